using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;

namespace HardenRunner.Monitoring;

/// <summary>
/// The addresses configured in the appliance's own network namespace, refreshed when older than a few seconds. A
/// socket whose local address is one of them lives in this namespace (a container or pod has addresses of its own),
/// so when sock_diag does not find it — the most common case being a resolver's UDP socket already closed — the other
/// namespaces need not be searched (<see cref="ForeignNamespaceSockets"/>, one /proc read per process).
/// </summary>
internal sealed class LocalAddresses(TimeSpan maxAge)
{
    private readonly Lock _gate = new();
    private HashSet<IPAddress> _addresses = [];
    private long _loadedAt;
    private bool _loaded;

    public static LocalAddresses Shared { get; } = new(TimeSpan.FromSeconds(5));

    /// <summary>True when <paramref name="address"/> (v4-mapped or with a scope id, compared without them) is configured here, loopback included.</summary>
    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var key = Normalize(address);
        if (IPAddress.IsLoopback(key))
        {
            return true;
        }

        lock (_gate)
        {
            if (!_loaded || Stopwatch.GetElapsedTime(_loadedAt) > maxAge)
            {
                _addresses = Load();
                _loadedAt = Stopwatch.GetTimestamp();
                _loaded = true;
            }

            return _addresses.Contains(key);
        }
    }

    internal static IPAddress Normalize(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6)
        {
            return a.MapToIPv4();
        }

        // link-local v6 addresses carry the interface as a scope id; the address alone identifies it here
        return a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && a.ScopeId != 0 ? new IPAddress(a.GetAddressBytes()) : a;
    }

    private static HashSet<IPAddress> Load()
    {
        var set = new HashSet<IPAddress>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                {
                    set.Add(Normalize(unicast.Address));
                }
            }
        }
        catch (NetworkInformationException)
        {
            // unknown: every miss searches the other namespaces, as without this set
        }

        return set;
    }
}
