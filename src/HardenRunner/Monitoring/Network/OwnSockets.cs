using System.Collections.Concurrent;
using System.Net;

namespace HardenRunner.Monitoring.Network;

/// <summary>
/// The local ends of the appliance's own client sockets that talk to its own servers (the proxy's resolver asking the
/// DNS server). While such a socket is open its address and port cannot be bound by another process, so a packet from
/// an end registered here is the appliance's own: its component names the appliance without a socket-owner lookup
/// (which, for a process with hundreds of descriptors, was the most expensive part of every new proxied connection).
/// An end is registered only while its socket is open: unregister before closing.
/// </summary>
public sealed class OwnSockets
{
    private readonly ConcurrentDictionary<IPEndPoint, byte> _ends = new();

    /// <summary>Marks <paramref name="local"/> (a bound, open socket's local end) as the appliance's own.</summary>
    public void Register(IPEndPoint local) => _ends[Normalize(local)] = 0;

    /// <summary>Forgets <paramref name="local"/>; call before closing its socket.</summary>
    public void Unregister(IPEndPoint local) => _ends.TryRemove(Normalize(local), out _);

    /// <summary>True when <paramref name="client"/> is a registered end.</summary>
    public bool Contains(IPEndPoint client) => !_ends.IsEmpty && _ends.ContainsKey(Normalize(client));

    public int Count => _ends.Count;

    private static IPEndPoint Normalize(IPEndPoint e) =>
        e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;
}
