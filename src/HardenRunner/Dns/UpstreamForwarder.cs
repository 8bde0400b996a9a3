using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace HardenRunner.Dns;

/// <summary>The answer of an upstream resolver, with the client's transaction id put back; or why there is none.</summary>
internal readonly record struct UpstreamReply(byte[]? Message, bool ViaTcp, string? Error)
{
    public bool Succeeded => Message is not null;
}

/// <summary>
/// Sends a client's query bytes to the upstream resolvers on sockets this class creates itself, so that every one
/// of them passes through <c>configureSocket</c> (which sets SO_MARK in the appliance: the firewall redirects all
/// other port-53 traffic back to the DNS server). Each attempt uses a fresh socket (a fresh random source port) and a
/// fresh random transaction id; a reply counts only when its id and question match. UDP first, TCP when the UDP
/// reply is truncated; a client that asked over TCP is forwarded over TCP. Upstreams are tried in order.
/// </summary>
internal sealed class UpstreamForwarder
{
    private readonly IReadOnlyList<IPEndPoint> _upstreams;
    private readonly Action<Socket>? _configureSocket;
    private readonly TimeSpan _attemptTimeout;

    public UpstreamForwarder(IReadOnlyList<IPEndPoint> upstreams, Action<Socket>? configureSocket, TimeSpan attemptTimeout)
    {
        if (upstreams.Count == 0)
        {
            throw new ArgumentException("at least one upstream resolver is needed", nameof(upstreams));
        }

        _upstreams = upstreams;
        _configureSocket = configureSocket;
        _attemptTimeout = attemptTimeout;
    }

    /// <param name="query">The client's query (validated: header, one uncompressed question, optional OPT).</param>
    /// <param name="questionEnd">Where the question ends in <paramref name="query"/>.</param>
    /// <param name="tcp">The client asked over TCP: skip UDP.</param>
    /// <param name="cancellationToken">The query's deadline.</param>
    public async Task<UpstreamReply> ForwardAsync(ReadOnlyMemory<byte> query, int questionEnd, bool tcp, CancellationToken cancellationToken)
    {
        var clientId = DnsWire.GetId(query.Span);
        var outgoing = query.ToArray();
        string? error = null;
        foreach (var upstream in _upstreams)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = (ushort)RandomNumberGenerator.GetInt32(0, 0x10000);
            DnsWire.SetId(outgoing, id);
            try
            {
                var viaTcp = tcp;
                var reply = tcp ? await TcpAsync(upstream, outgoing, questionEnd, id, cancellationToken).ConfigureAwait(false) : null;
                if (!tcp)
                {
                    reply = await UdpAsync(upstream, outgoing, questionEnd, id, cancellationToken).ConfigureAwait(false);
                    if (DnsWire.IsTruncated(reply))
                    {
                        viaTcp = true;
                        id = (ushort)RandomNumberGenerator.GetInt32(0, 0x10000);
                        DnsWire.SetId(outgoing, id);
                        reply = await TcpAsync(upstream, outgoing, questionEnd, id, cancellationToken).ConfigureAwait(false);
                    }
                }

                DnsWire.SetId(reply, clientId);
                return new UpstreamReply(reply, viaTcp, null);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                error = $"{upstream}: no answer within {_attemptTimeout.TotalMilliseconds:0} ms";
            }
            catch (SocketException e)
            {
                error = $"{upstream}: {e.SocketErrorCode}";
            }
            catch (IOException e)
            {
                error = $"{upstream}: {e.Message}";
            }
            catch (InvalidDataException e)
            {
                error = $"{upstream}: {e.Message}";
            }
        }

        return new UpstreamReply(null, false, error);
    }

    private async Task<byte[]> UdpAsync(IPEndPoint upstream, byte[] query, int questionEnd, ushort id, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_attemptTimeout);
        using var socket = new Socket(upstream.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _configureSocket?.Invoke(socket);
        await socket.ConnectAsync(upstream, timeout.Token).ConfigureAwait(false);
        await socket.SendAsync(query, SocketFlags.None, timeout.Token).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(DnsWire.MaxMessageLength);
        try
        {
            while (true)
            {
                // a connected UDP socket only sees datagrams from the upstream; ICMP port-unreachable surfaces as ConnectionRefused
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                if (Matches(buffer.AsSpan(0, n), query, questionEnd, id))
                {
                    return buffer.AsSpan(0, n).ToArray();
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task<byte[]> TcpAsync(IPEndPoint upstream, byte[] query, int questionEnd, ushort id, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_attemptTimeout);
        using var socket = new Socket(upstream.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _configureSocket?.Invoke(socket);
        await socket.ConnectAsync(upstream, timeout.Token).ConfigureAwait(false);
        var framed = new byte[query.Length + 2];
        DnsWire.WriteUInt16(framed, 0, (ushort)query.Length);
        query.CopyTo(framed, 2);
        await socket.SendAsync(framed, SocketFlags.None, timeout.Token).ConfigureAwait(false);

        var lengthBytes = new byte[2];
        await ReceiveExactlyAsync(socket, lengthBytes, timeout.Token).ConfigureAwait(false);
        var length = DnsWire.ReadUInt16(lengthBytes, 0);
        var reply = new byte[length];
        await ReceiveExactlyAsync(socket, reply, timeout.Token).ConfigureAwait(false);
        return Matches(reply, query, questionEnd, id) ? reply : throw new InvalidDataException("reply over TCP does not match the query");
    }

    internal static async Task ReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        while (buffer.Length > 0)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException("connection closed before the whole message arrived");
            }

            buffer = buffer[n..];
        }
    }

    /// <summary>
    /// A reply belongs to our query when it is a response with our id and the same question (names compared
    /// case-insensitively), or an error response without a question (some servers answer FORMERR/NOTIMP that way).
    /// </summary>
    internal static bool Matches(ReadOnlySpan<byte> reply, ReadOnlySpan<byte> query, int questionEnd, ushort id)
    {
        if (reply.Length < DnsWire.HeaderLength || DnsWire.GetId(reply) != id || !DnsWire.IsResponse(reply))
        {
            return false;
        }

        var qd = DnsWire.QuestionCount(reply);
        if (qd == 0)
        {
            return DnsWire.GetRcode(reply) != DnsWire.RcodeNoError;
        }

        if (qd != 1 || reply.Length < questionEnd)
        {
            return false;
        }

        // the name (ASCII letters folded: some resolvers do not echo 0x20 case), then type and class exactly
        var nameEnd = questionEnd - 4;
        for (var i = DnsWire.HeaderLength; i < nameEnd; i++)
        {
            if (AsciiLower(reply[i]) != AsciiLower(query[i]))
            {
                return false;
            }
        }

        return reply[nameEnd..questionEnd].SequenceEqual(query[nameEnd..questionEnd]);
    }

    private static byte AsciiLower(byte b) => b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b;
}
