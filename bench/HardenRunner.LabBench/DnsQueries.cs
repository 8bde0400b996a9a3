using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace HardenRunner.LabBench;

/// <summary>The names the DNS scenario asks for and their wire-format queries (A, class IN, RD, no EDNS: what a glibc stub sends).</summary>
internal static class DnsQueries
{
    public const int DefaultNameCount = 200;

    public static string Name(int i) => string.Create(CultureInfo.InvariantCulture, $"n{i:000}.allowed.test");

    public static IReadOnlyList<string> Names(int count) => [.. Enumerable.Range(0, count).Select(Name)];

    /// <summary>A query for <paramref name="name"/> type A with transaction id 0 (the client writes its own ids).</summary>
    public static byte[] A(string name)
    {
        var bytes = new List<byte> { 0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }

        bytes.AddRange([0, 0, 1, 0, 1]);
        return [.. bytes];
    }

    public static ushort Id(ReadOnlySpan<byte> m) => BinaryPrimitives.ReadUInt16BigEndian(m);

    public static void SetId(Span<byte> m, ushort id) => BinaryPrimitives.WriteUInt16BigEndian(m, id);

    public static bool IsResponse(ReadOnlySpan<byte> m) => m.Length >= 12 && (m[2] & 0x80) != 0;

    public static bool IsTruncated(ReadOnlySpan<byte> m) => (m[2] & 0x02) != 0;

    public static int Rcode(ReadOnlySpan<byte> m) => m[3] & 0x0f;

    public static int AnswerCount(ReadOnlySpan<byte> m) => BinaryPrimitives.ReadUInt16BigEndian(m[6..]);

    /// <summary>A usable answer: NOERROR, not truncated, at least one answer record.</summary>
    public static bool IsAnswer(ReadOnlySpan<byte> m) => Rcode(m) == 0 && !IsTruncated(m) && AnswerCount(m) > 0;
}
