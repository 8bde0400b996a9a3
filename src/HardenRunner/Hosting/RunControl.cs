using HardenRunner.Events;
using HardenRunner.Policy.Model;

namespace HardenRunner.Hosting;

/// <summary>What a policy switch did.</summary>
/// <param name="Mode">The egress mode now in force.</param>
/// <param name="Reallowed">Addresses of cached names that the new policy allows, put back into the allow sets.</param>
/// <param name="Problems">What did not complete (the new policy is in force for DNS and the proxy regardless; a table
/// that could not be applied is retried by the firewall's verifier).</param>
public sealed record PolicySwitchResult(EgressMode Mode, int Reallowed, IReadOnlyList<string> Problems);

/// <summary>
/// A handle on one running appliance session for whoever started it (service mode's <c>ServiceHost</c>): switch the
/// policy in place (DNS server, proxy and firewall at once, without a restart), describe the job better once its
/// GITHUB_* values are known, record an event in the run. Until the session is ready (and after it stopped),
/// <see cref="IsReady"/> is false and every call throws <see cref="InvalidOperationException"/>; try again later.
/// </summary>
public sealed class RunControl
{
    private volatile Target? _target;

    /// <summary>True while the session enforces (from ready until it begins to stop).</summary>
    public bool IsReady => _target is not null;

    /// <summary>
    /// Puts <paramref name="policy"/> in force (its egress mode included). Decisions that start afterwards use it;
    /// flows already established are not cut. Throws <see cref="InvalidOperationException"/> when not ready.
    /// </summary>
    public Task<PolicySwitchResult> SwitchPolicyAsync(PolicyDocument policy, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(policy);
        return Current().SwitchPolicy(policy, cancellationToken);
    }

    /// <summary>Records the job's GITHUB_* values (run description, reports) and starts what needs its workspace.</summary>
    public Task UpdateJobAsync(IReadOnlyDictionary<string, string> jobEnvironment, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jobEnvironment);
        return Current().UpdateJob(jobEnvironment, cancellationToken);
    }

    /// <summary>Records an event (e.g. a detection) in the session's run.</summary>
    public void Publish(ApplianceEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Current().Publish(e);
    }

    /// <summary>The session, once it enforces, hands over its own functions.</summary>
    internal void Attach(
        Func<PolicyDocument, CancellationToken, Task<PolicySwitchResult>> switchPolicy,
        Func<IReadOnlyDictionary<string, string>, CancellationToken, Task> updateJob,
        Action<ApplianceEvent> publish) =>
        _target = new Target(switchPolicy, updateJob, publish);

    internal void Detach() => _target = null;

    private Target Current() =>
        _target ?? throw new InvalidOperationException("the appliance session is not enforcing (starting or stopping)");

    private sealed record Target(
        Func<PolicyDocument, CancellationToken, Task<PolicySwitchResult>> SwitchPolicy,
        Func<IReadOnlyDictionary<string, string>, CancellationToken, Task> UpdateJob,
        Action<ApplianceEvent> Publish);
}
