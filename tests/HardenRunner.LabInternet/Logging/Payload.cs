using System.Net;
using System.Text;
using HardenRunner.Lab.Contract;

namespace HardenRunner.LabInternet.Logging;

/// <summary>Keeps the first <see cref="LabJson.PreviewBytes"/> bytes of a payload and counts the rest.</summary>
internal sealed class Payload
{
    private readonly byte[] _head = new byte[LabJson.PreviewBytes];
    private int _headLength;

    public long Length { get; private set; }

    public void Add(ReadOnlySpan<byte> data)
    {
        var take = Math.Min(data.Length, _head.Length - _headLength);
        data[..take].CopyTo(_head.AsSpan(_headLength));
        _headLength += take;
        Length += data.Length;
    }

    public string PreviewText => Encoding.UTF8.GetString(_head, 0, _headLength);

    public string PreviewBase64 => Convert.ToBase64String(_head, 0, _headLength);

    public static string Format(IPAddress address)
        => (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
}
