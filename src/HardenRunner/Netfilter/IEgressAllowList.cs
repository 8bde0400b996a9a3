using System.Net;
using HardenRunner.Policy;

namespace HardenRunner.Netfilter;

/// <summary>
/// The firewall's dynamic allow sets. The DNS server adds the addresses it resolved for an allowed name, for exactly
/// the ports the policy grants that name, for the answer's TTL (with a floor).
/// </summary>
public interface IEgressAllowList
{
    void Allow(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl);
}
