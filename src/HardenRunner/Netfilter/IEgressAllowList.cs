using System.Net;
using HardenRunner.Policy;

namespace HardenRunner.Netfilter;

/// <summary>
/// The firewall's dynamic allow sets. The DNS server adds the addresses it resolved for an allowed name, for exactly
/// the ports the policy grants that name, for the answer's TTL (with a floor).
/// </summary>
public interface IEgressAllowList
{
    /// <summary>Queues the allow and returns at once; the allow may not be in place yet when this returns.</summary>
    void Allow(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl);

    /// <summary>
    /// Completes when the allow is in place in the kernel. The DNS server must await this before it sends the answer
    /// (otherwise the client may connect before the address is allowed); if it fails, answer SERVFAIL (fail closed).
    /// </summary>
    Task AllowAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, CancellationToken cancellationToken = default)
    {
        Allow(address, grants, ttl);
        return Task.CompletedTask;
    }
}
