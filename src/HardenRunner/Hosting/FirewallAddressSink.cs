using System.Net;
using HardenRunner.Dns;
using HardenRunner.Netfilter;
using HardenRunner.Policy;

namespace HardenRunner.Hosting;

/// <summary>
/// Wires the DNS server's resolved addresses to the firewall's allow sets; awaited before the answer is sent. Each
/// allow carries the policy it was decided under, so the firewall refuses it once another policy is in force.
/// </summary>
internal sealed class FirewallAddressSink(Firewall firewall) : IResolvedAddressSink
{
    public ValueTask AddAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, PolicyEngine decidedBy, CancellationToken cancellationToken) =>
        new(firewall.AllowAsync(address, grants, ttl, decidedBy, cancellationToken));
}
