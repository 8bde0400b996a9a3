using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using HardenRunner.Linux;

namespace HardenRunner.Monitoring;

/// <summary>One socket as NETLINK_SOCK_DIAG reports it (inet_diag_msg).</summary>
internal readonly record struct DiagSocket(IPEndPoint Local, IPEndPoint Remote, byte State, uint Uid, ulong Inode);

/// <summary>
/// A NETLINK_SOCK_DIAG socket for looking up TCP and UDP sockets of the network namespace it was opened in
/// (inet_diag_req_v2 dumps, which the kernel filters by source and destination port). Thread-safe: one request at a time.
/// </summary>
internal sealed unsafe class SockDiag : IDisposable
{
    private const ushort SockDiagByFamily = 20;
    private const ushort NlmFRequest = 0x1;
    private const ushort NlmFDump = 0x300;
    private const int RequestLength = 16 + 56;
    private const int MessageLength = 72;

    private readonly object _gate = new();
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _fd;
    private uint _sequence;

    private SockDiag(int fd) => _fd = fd;

    /// <param name="networkNamespace">Namespace path whose sockets to see; null for the caller's.</param>
    public static SockDiag Open(string? networkNamespace = null)
    {
        if (networkNamespace is null)
        {
            return new SockDiag(CreateSocket());
        }

        using var thread = new DedicatedThread("hr-sock-diag-open", networkNamespace);
        return new SockDiag(thread.InvokeAsync(CreateSocket).GetAwaiter().GetResult());
    }

    /// <summary>
    /// Sockets of <paramref name="protocol"/> (TCP or UDP) in both address families whose local port is
    /// <paramref name="localPort"/> and, when non-zero, whose remote port is <paramref name="remotePort"/>. A dump: the
    /// kernel walks every socket of the namespace (TIME_WAIT ones included), so this costs milliseconds on a busy host.
    /// </summary>
    public List<DiagSocket> Find(ProtocolType protocol, int localPort, int remotePort = 0)
    {
        var result = new List<DiagSocket>();
        lock (_gate)
        {
            Request(BuildRequest(AddressFamily.InterNetwork, protocol, localPort, remotePort, ++_sequence), result);
            Request(BuildRequest(AddressFamily.InterNetworkV6, protocol, localPort, remotePort, ++_sequence), result);
        }

        return result;
    }

    /// <summary>
    /// The one socket whose local end is <paramref name="local"/> and whose peer is <paramref name="remote"/> (a UDP
    /// socket that is not connected matches any peer): a hash lookup in the kernel, microseconds. Null when none.
    /// </summary>
    public DiagSocket? FindExact(ProtocolType protocol, IPEndPoint local, IPEndPoint remote)
    {
        var result = new List<DiagSocket>(1);
        lock (_gate)
        {
            var errno = Request(BuildExactRequest(protocol, local, remote, ++_sequence), result);
            return errno == 0 && result.Count > 0 ? result[0] : null;
        }
    }

    /// <summary>Every socket of <paramref name="protocol"/> (measurement and tests).</summary>
    public List<DiagSocket> All(ProtocolType protocol) => Find(protocol, 0);

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            _ = LinuxInterop.Close(fd);
        }
    }

    /// <summary>Builds an inet_diag_req_v2 dump request (all states) filtered by ports.</summary>
    internal static byte[] BuildRequest(AddressFamily family, ProtocolType protocol, int localPort, int remotePort, uint sequence)
    {
        var m = new byte[RequestLength];
        var s = m.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(s, RequestLength);
        BinaryPrimitives.WriteUInt16LittleEndian(s[4..], SockDiagByFamily);
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], NlmFRequest | NlmFDump);
        BinaryPrimitives.WriteUInt32LittleEndian(s[8..], sequence);
        var r = s[16..];
        r[0] = (byte)(family == AddressFamily.InterNetwork ? 2 : 10);
        r[1] = (byte)protocol;
        BinaryPrimitives.WriteUInt32LittleEndian(r[4..], 0xFFFFFFFF); // every state
        BinaryPrimitives.WriteUInt16BigEndian(r[8..], (ushort)localPort);
        BinaryPrimitives.WriteUInt16BigEndian(r[10..], (ushort)remotePort);
        BinaryPrimitives.WriteUInt32LittleEndian(r[48..], 0xFFFFFFFF); // INET_DIAG_NOCOOKIE
        BinaryPrimitives.WriteUInt32LittleEndian(r[52..], 0xFFFFFFFF);
        return m;
    }

    /// <summary>
    /// An exact-match request (no dump flag). The kernel reads the ids the other way round for UDP ("src and dst are
    /// swapped for historical reasons" in udp_diag.c): for TCP src is the socket's local end, for UDP its peer.
    /// </summary>
    internal static byte[] BuildExactRequest(ProtocolType protocol, IPEndPoint local, IPEndPoint remote, uint sequence)
    {
        var v4 = local.AddressFamily == AddressFamily.InterNetwork && remote.AddressFamily == AddressFamily.InterNetwork;
        var family = v4 ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        var m = BuildRequest(family, protocol, 0, 0, sequence);
        var s = m.AsSpan();
        BinaryPrimitives.WriteUInt16LittleEndian(s[6..], NlmFRequest);
        var (src, dst) = protocol == ProtocolType.Udp ? (remote, local) : (local, remote);
        var id = s[(16 + 8)..];
        BinaryPrimitives.WriteUInt16BigEndian(id, (ushort)src.Port);
        BinaryPrimitives.WriteUInt16BigEndian(id[2..], (ushort)dst.Port);
        WriteAddress(id.Slice(4, 16), src.Address, v4);
        WriteAddress(id.Slice(20, 16), dst.Address, v4);
        return m;
    }

    /// <summary>
    /// Parses one reply datagram; returns false at the end (NLMSG_DONE or NLMSG_ERROR). ENOENT, "no such socket", comes
    /// back in <paramref name="error"/>; any other error is thrown.
    /// </summary>
    internal static bool ParseReply(ReadOnlySpan<byte> datagram, uint sequence, List<DiagSocket> into, out int error)
    {
        error = 0;
        while (datagram.Length >= 16)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            if (length < 16 || length > datagram.Length)
            {
                return false;
            }

            var type = BinaryPrimitives.ReadUInt16LittleEndian(datagram[4..]);
            var body = datagram[16..length];
            var stale = BinaryPrimitives.ReadUInt32LittleEndian(datagram[8..]) != sequence;
            switch (stale ? (ushort)0 : type)
            {
                case 3: // NLMSG_DONE
                    return false;
                case 2: // NLMSG_ERROR
                    var errno = body.Length >= 4 ? -BinaryPrimitives.ReadInt32LittleEndian(body) : 0;
                    if (errno is 0 or MonitorInterop.Enoent)
                    {
                        error = errno;
                        return false;
                    }

                    throw new IOException($"sock_diag request failed: {LinuxInterop.ErrorText(errno)}");
                case SockDiagByFamily when body.Length >= MessageLength:
                    into.Add(ParseMessage(body));
                    break;
            }

            var aligned = (length + 3) & ~3;
            if (aligned >= datagram.Length)
            {
                break;
            }

            datagram = datagram[aligned..];
        }

        return true;
    }

    private static void WriteAddress(Span<byte> into, IPAddress address, bool v4)
    {
        var a = v4 ? address : (address.AddressFamily == AddressFamily.InterNetwork ? address.MapToIPv6() : address);
        a.TryWriteBytes(into, out _);
    }

    private static DiagSocket ParseMessage(ReadOnlySpan<byte> m)
    {
        var v4 = m[0] == 2;
        var id = m[4..];
        var sport = BinaryPrimitives.ReadUInt16BigEndian(id);
        var dport = BinaryPrimitives.ReadUInt16BigEndian(id[2..]);
        var src = v4 ? new IPAddress(id.Slice(4, 4)) : new IPAddress(id.Slice(4, 16));
        var dst = v4 ? new IPAddress(id.Slice(20, 4)) : new IPAddress(id.Slice(20, 16));
        var uid = BinaryPrimitives.ReadUInt32LittleEndian(m[64..]);
        var inode = BinaryPrimitives.ReadUInt32LittleEndian(m[68..]);
        return new DiagSocket(new IPEndPoint(src, sport), new IPEndPoint(dst, dport), m[1], uid, inode);
    }

    private static int CreateSocket()
    {
        var fd = LinuxInterop.Socket(LinuxInterop.AfNetlink, LinuxInterop.SockRaw | LinuxInterop.SockCloexec, MonitorInterop.NetlinkSockDiag);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed: {LinuxInterop.ErrorText(errno)}");
        }

        return fd;
    }

    /// <summary>Sends one request and collects the reply; returns 0, or the errno the kernel answered with (ENOENT: no such socket).</summary>
    private int Request(byte[] request, List<DiagSocket> into)
    {
        fixed (byte* p = request)
        {
            if (LinuxInterop.Send(_fd, p, (nuint)request.Length, 0) != request.Length)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"sock_diag send failed: {LinuxInterop.ErrorText(errno)}");
            }
        }

        var dump = (BinaryPrimitives.ReadUInt16LittleEndian(request.AsSpan(6)) & NlmFDump) != 0;
        var deadline = Environment.TickCount64 + 2000;
        while (Environment.TickCount64 < deadline)
        {
            // the kernel answers inside the send (an exact lookup entirely, a dump its first part, the rest inside each
            // recv), so the answer is normally queued already: read first, wait only when nothing is there
            nint n;
            fixed (byte* b = _buffer)
            {
                n = LinuxInterop.Recv(_fd, b, (nuint)_buffer.Length, LinuxInterop.MsgDontwait);
            }

            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno is LinuxInterop.Eagain or LinuxInterop.Eintr)
                {
                    var pfd = new LinuxInterop.PollFd { Fd = _fd, Events = LinuxInterop.PollIn };
                    _ = LinuxInterop.Poll(&pfd, 1, 500);
                    continue;
                }

                throw new IOException($"sock_diag recv failed: {LinuxInterop.ErrorText(errno)}");
            }

            var before = into.Count;
            int error;
            bool more;
            try
            {
                more = ParseReply(_buffer.AsSpan(0, (int)n), _sequence, into, out error);
            }
            catch (IOException)
            {
                Drain();
                throw;
            }

            if (error != 0)
            {
                return error;
            }

            // an exact request is answered by one message and no NLMSG_DONE
            if (!more || (!dump && into.Count > before))
            {
                return 0;
            }
        }

        Drain();
        throw new IOException("sock_diag: no complete answer within 2 s");
    }

    private void Drain()
    {
        fixed (byte* b = _buffer)
        {
            for (var i = 0; i < 1024 && LinuxInterop.Recv(_fd, b, (nuint)_buffer.Length, LinuxInterop.MsgDontwait) > 0; i++)
            {
            }
        }
    }
}
