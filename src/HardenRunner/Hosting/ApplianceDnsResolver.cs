using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Monitoring.Network;
using HardenRunner.Proxy;

namespace HardenRunner.Hosting;

/// <summary>
/// The proxy's resolver: the appliance's own DNS server's answers for A and AAAA, so the proxy forwards to addresses
/// the appliance resolved itself for the name, never to the client's original destination on trust. A type whose
/// answer the server has cached — the client's own query for the name has usually just stored it — is read from the
/// cache in process (<paramref name="cached"/>: no query, no event); otherwise the server is asked over loopback.
/// Queries are plain (EDNS without options), so the DNS server's cache answers them; one small datagram each way, no
/// per-query client object.
/// </summary>
internal sealed class ApplianceDnsResolver(int dnsPort, OwnSockets? ownSockets = null, Func<string, ushort, IReadOnlyList<IPAddress>?>? cached = null) : IUpstreamResolver
{
    private const ushort TypeA = 1;
    private const ushort TypeAaaa = 28;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);
    private readonly IPEndPoint _server = new(IPAddress.Loopback, dnsPort);

    public async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string hostName, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(hostName, out var literal))
        {
            return [literal];
        }

        var a = cached?.Invoke(hostName, TypeA) is { } cachedA ? Task.FromResult(cachedA) : QueryAsync(hostName, TypeA, cancellationToken);
        var aaaa = cached?.Invoke(hostName, TypeAaaa) is { } cachedAaaa ? Task.FromResult(cachedAaaa) : QueryAsync(hostName, TypeAaaa, cancellationToken);
        return [.. await a.ConfigureAwait(false), .. await aaaa.ConfigureAwait(false)];
    }

    private async Task<IReadOnlyList<IPAddress>> QueryAsync(string name, ushort type, CancellationToken cancellationToken)
    {
        var query = BuildQuery(name, type, out var id);
        if (query is null)
        {
            return [];
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        IPEndPoint? registered = null;
        try
        {
            await socket.ConnectAsync(_server, timeout.Token).ConfigureAwait(false);
            if (ownSockets is not null && socket.LocalEndPoint is IPEndPoint local)
            {
                // the DNS server names this query the appliance's own instead of looking its socket up
                ownSockets.Register(registered = local);
            }

            await socket.SendAsync(query, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            var buffer = new byte[4096];
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (n < 12 || BinaryPrimitives.ReadUInt16BigEndian(buffer) != id)
                {
                    continue; // not our answer
                }

                var message = DnsMessage.Parse(new ArraySegment<byte>(buffer, 0, n));
                if (message.ReturnCode != ReturnCode.NoError)
                {
                    return [];
                }

                return
                [
                    .. message.AnswerRecords.OfType<ARecord>().Select(r => r.Address),
                    .. message.AnswerRecords.OfType<AaaaRecord>().Select(r => r.Address),
                ];
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ArgumentException or IndexOutOfRangeException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            return []; // no answer: the proxy answers 502, it never falls back to the client's address
        }
        finally
        {
            // before the socket closes (the using above): a port released while registered could be taken by another process
            if (registered is not null)
            {
                ownSockets!.Unregister(registered);
            }
        }
    }

    /// <summary>A standard recursive query with one question and an OPT record (payload 1232, no options); null for a name that cannot be one.</summary>
    internal static byte[]? BuildQuery(string name, ushort type, out ushort id)
    {
        id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
        var labels = name.TrimEnd('.').Split('.');
        if (name.Length == 0 || name.Length > 253 || labels.Any(l => l.Length is 0 or > 63 || l.Any(c => c > 0x7e || c <= ' ')))
        {
            return null;
        }

        var bytes = new List<byte>(32 + name.Length);
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(header, id);
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], 0x0100); // RD
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], 1);      // QDCOUNT
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], 1);     // ARCOUNT (OPT)
        bytes.AddRange(header.ToArray());
        foreach (var label in labels)
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(label.Select(c => (byte)c));
        }

        bytes.Add(0);
        bytes.Add((byte)(type >> 8));
        bytes.Add((byte)type);
        bytes.AddRange([0, 1]);                              // class IN
        bytes.AddRange([0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0]); // OPT: root, type 41, payload 1232, ttl 0, rdlen 0
        return [.. bytes];
    }
}
