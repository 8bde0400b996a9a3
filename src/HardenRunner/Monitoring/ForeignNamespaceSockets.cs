using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Monitoring;

/// <summary>
/// Finds a socket that lives in another network namespace than the appliance's — a container's or a pod's, whose
/// traffic reaches the appliance through a bridge or veth with the container's own address as the source. sock_diag
/// only answers for the namespace it was opened in, so this reads /proc/&lt;pid&gt;/net/{tcp,tcp6,udp,udp6} of one
/// process per foreign namespace (those tables show that process's namespace) and returns the socket's inode with the
/// processes of its namespace, the first place to look for the holder. Used only when the appliance's own namespace
/// has no such socket; costs one ns/net link read per process plus one table read per foreign namespace.
/// </summary>
internal static class ForeignNamespaceSockets
{
    private const int TcpListen = 0x0A;

    /// <summary>The inode of the socket with local end <paramref name="local"/> (and peer <paramref name="remote"/> when given), and the pids of its namespace; or null.</summary>
    public static (ulong Inode, IReadOnlyList<int> Pids)? Find(ProtocolType protocol, IPEndPoint local, IPEndPoint? remote)
    {
        var own = ProcFs.ReadLink(ProcFs.Root + "/self/ns/net");
        var namespaces = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        foreach (var pid in ProcFs.ListPids())
        {
            var ns = ProcFs.ReadLink(ProcFs.PidPath(pid, "ns/net"));
            if (ns is null || ns == own)
            {
                continue;
            }

            if (!namespaces.TryGetValue(ns, out var pids))
            {
                namespaces[ns] = pids = [];
            }

            pids.Add(pid);
        }

        string[] tables = protocol == ProtocolType.Tcp ? ["tcp", "tcp6"] : ["udp", "udp6"];
        foreach (var pids in namespaces.Values)
        {
            foreach (var table in tables)
            {
                byte[] text;
                try
                {
                    text = File.ReadAllBytes(ProcFs.PidPath(pids[0], "net/" + table));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    break; // the process is gone
                }

                if (TryFind(text, protocol, local, remote) is { } inode)
                {
                    return (inode, pids);
                }
            }
        }

        return null;
    }

    /// <summary>The inode of the matching entry of one /proc net table (header line first), or null.</summary>
    internal static ulong? TryFind(ReadOnlySpan<byte> text, ProtocolType protocol, IPEndPoint local, IPEndPoint? remote)
    {
        ulong? wildcard = null;
        var first = true;
        Span<Range> fields = stackalloc Range[12];
        foreach (var lineRange in text.Split((byte)'\n'))
        {
            if (first)
            {
                first = false;
                continue;
            }

            var line = text[lineRange].Trim((byte)' ');
            var count = 0;
            foreach (var f in line.Split((byte)' '))
            {
                if (line[f].IsEmpty)
                {
                    continue;
                }

                fields[count++] = f;
                if (count == fields.Length)
                {
                    break;
                }
            }

            if (count < 10
                || !ulong.TryParse(line[fields[9]], NumberStyles.None, CultureInfo.InvariantCulture, out var inode) || inode == 0
                || ProcNetSockets.ParseEndPoint(line[fields[1]]) is not { } l || l.Port != local.Port
                || ProcNetSockets.ParseEndPoint(line[fields[2]]) is not { } r)
            {
                continue;
            }

            _ = int.TryParse(line[fields[3]], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var state);
            if (protocol == ProtocolType.Tcp && state == TcpListen)
            {
                continue;
            }

            if (remote is not null && protocol == ProtocolType.Tcp && !r.Equals(remote))
            {
                continue;
            }

            if (l.Address.Equals(local.Address))
            {
                return inode;
            }

            if (protocol == ProtocolType.Udp && (l.Address.Equals(IPAddress.Any) || l.Address.Equals(IPAddress.IPv6Any)))
            {
                wildcard ??= inode;
            }
        }

        return wildcard;
    }
}
