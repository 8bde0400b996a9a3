using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Monitoring;

/// <summary>
/// Finds the process that owns the client end of a connection or datagram flow: NETLINK_SOCK_DIAG (in the
/// monitor's network namespace) gives the client socket's inode, <see cref="SocketInodeIndex"/> the pid holding it.
/// Sockets of the namespace the resolver was opened in (the runner's) come first; when there is none, the other
/// network namespaces on the host (containers, pods behind a bridge or veth) are searched through their /proc net
/// tables (<see cref="ForeignNamespaceSockets"/>). A socket already closed is not found (null, never a guess).
/// </summary>
internal sealed class SocketOwnerResolver(SockDiag diag, SocketInodeIndex index, Func<IEnumerable<int>> candidates, Func<IPAddress, bool>? isLocal = null) : IDisposable
{
    private const byte TcpListen = 10;
    private const byte TcpTimeWait = 6;

    private long _lookups;
    private long _found;
    private long _ticks;
    private long _foreignSearches;
    private long _udpDumps;

    public long Lookups => Interlocked.Read(ref _lookups);

    public long Found => Interlocked.Read(ref _found);

    /// <summary>Mean cost of a lookup so far, in microseconds.</summary>
    public double MeanMicroseconds => Lookups == 0 ? 0 : Interlocked.Read(ref _ticks) * 1e6 / Stopwatch.Frequency / Lookups;

    public SocketInodeIndex Index => index;

    /// <summary>How many lookups went on to search other network namespaces.</summary>
    public long ForeignSearches => Interlocked.Read(ref _foreignSearches);

    /// <summary>How many UDP lookups listed the sockets on the client's port because no exact lookup found it (a dump walks the kernel's whole UDP table).</summary>
    public long UdpDumps => Interlocked.Read(ref _udpDumps);

    /// <summary>
    /// The owner of a TCP socket whose local end is <paramref name="client"/> and, when given, whose peer is
    /// <paramref name="server"/> (for a redirected connection: the original destination).
    /// </summary>
    public int? TcpOwner(IPEndPoint client, IPEndPoint? server)
    {
        return Measure(() =>
        {
            var c = Normalize(client);
            var s = server is null ? null : Normalize(server);
            if (s is not null)
            {
                // the usual case (the proxy knows the original destination): one hash lookup in the kernel
                return diag.FindExact(ProtocolType.Tcp, c, s) is { Inode: > 0 } exact
                    ? index.FindOwner(exact.Inode, candidates(), () => StillOpen(ProtocolType.Tcp, c, s, exact.Inode))
                    : Foreign(ProtocolType.Tcp, c, s);
            }

            DiagSocket? best = null;
            foreach (var sock in diag.Find(ProtocolType.Tcp, c.Port, s?.Port ?? 0))
            {
                if (sock.State is TcpListen or TcpTimeWait || sock.Inode == 0 || !Normalize(sock.Local).Address.Equals(c.Address))
                {
                    continue;
                }

                best = sock;
                break;
            }

            return best is { } b ? index.FindOwner(b.Inode, candidates()) : Foreign(ProtocolType.Tcp, c, null);
        });
    }

    /// <summary>
    /// The owner of the UDP socket bound to <paramref name="client"/> (or to the wildcard address on its port). With
    /// <paramref name="server"/> (where the datagram was sent: needed for a connected socket, as glibc's resolver
    /// uses) the kernel looks the socket up directly, and then with <paramref name="alternateServer"/> (a second guess
    /// at that address: a redirected query was sent to another port than the one it arrived on); when neither finds
    /// it, the sockets on the client's port are listed.
    /// </summary>
    public int? UdpOwner(IPEndPoint client, IPEndPoint? server = null, IPEndPoint? alternateServer = null)
    {
        return Measure(() =>
        {
            var c = Normalize(client);
            if (server is not null && diag.FindExact(ProtocolType.Udp, c, Normalize(server)) is { Inode: > 0 } direct)
            {
                return index.FindOwner(direct.Inode, candidates(), () => StillOpen(ProtocolType.Udp, c, Normalize(server), direct.Inode));
            }

            if (alternateServer is not null && !alternateServer.Equals(server)
                && diag.FindExact(ProtocolType.Udp, c, Normalize(alternateServer)) is { Inode: > 0 } second)
            {
                return index.FindOwner(second.Inode, candidates(), () => StillOpen(ProtocolType.Udp, c, Normalize(alternateServer), second.Inode));
            }

            Interlocked.Increment(ref _udpDumps);
            DiagSocket? exact = null, wildcard = null;
            foreach (var sock in diag.Find(ProtocolType.Udp, c.Port))
            {
                if (sock.Inode == 0)
                {
                    continue;
                }

                var local = Normalize(sock.Local).Address;
                if (local.Equals(c.Address))
                {
                    exact ??= sock;
                }
                else if (local.Equals(IPAddress.Any) || local.Equals(IPAddress.IPv6Any))
                {
                    wildcard ??= sock;
                }
            }

            return (exact ?? wildcard) is { } s ? index.FindOwner(s.Inode, candidates()) : Foreign(ProtocolType.Udp, c, null);
        });
    }

    public void Dispose() => diag.Dispose();

    /// <summary>A socket in another network namespace (a container's): its holder, looked for among that namespace's processes first.</summary>
    private int? Foreign(ProtocolType protocol, IPEndPoint client, IPEndPoint? server)
    {
        if (IPAddress.IsLoopback(client.Address) || (isLocal?.Invoke(client.Address) ?? false))
        {
            // loopback traffic never crosses namespaces, and a source address configured here is this namespace's
            // own: its socket is gone (a resolver's UDP socket closes as soon as the answer arrives), not elsewhere
            return null;
        }

        Interlocked.Increment(ref _foreignSearches);
        return ForeignNamespaceSockets.Find(protocol, client, server) is { } found ? index.FindOwner(found.Inode, found.Pids) : null;
    }

    /// <summary>True while the socket an exact lookup found is still there (one more hash lookup in the kernel).</summary>
    private bool StillOpen(ProtocolType protocol, IPEndPoint client, IPEndPoint server, ulong inode) =>
        diag.FindExact(protocol, client, server) is { } again && again.Inode == inode;

    internal static IPEndPoint Normalize(IPEndPoint e) =>
        e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;

    private int? Measure(Func<int?> lookup)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var pid = lookup();
            if (pid is not null)
            {
                Interlocked.Increment(ref _found);
            }

            return pid;
        }
        finally
        {
            Interlocked.Increment(ref _lookups);
            Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        }
    }
}
