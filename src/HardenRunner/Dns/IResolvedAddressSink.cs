using System.Net;
using HardenRunner.Policy;

namespace HardenRunner.Dns;

/// <summary>
/// Where the DNS server puts the addresses it resolved for an allowed name: the firewall's allow sets. The server
/// awaits <see cref="AddAsync"/> before the answer goes to the client, so the client can never race the rule. The
/// appliance wires it to the firewall's awaitable allow (<c>IEgressAllowList.AllowAsync</c>), never to a call that
/// only queues the element.
/// </summary>
public interface IResolvedAddressSink
{
    /// <summary>
    /// Allows <paramref name="address"/> for exactly <paramref name="grants"/> for <paramref name="ttl"/>, as decided
    /// by <paramref name="decidedBy"/> (a sink refuses an allow decided under a policy that was replaced since).
    /// Throwing makes the query fail (SERVFAIL in block mode).
    /// </summary>
    ValueTask AddAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, PolicyEngine decidedBy, CancellationToken cancellationToken);
}
