namespace HardenRunner.Policy;

/// <summary>
/// The policy in force for a running appliance: one reference that the DNS server, the proxy and the firewall read
/// for every decision, so that a policy can be switched in place (service mode, docs/deployment.md) without
/// restarting them. A reader takes <see cref="Current"/> once per decision and uses that engine for the whole
/// decision, so no decision mixes two policies. Thread-safe.
/// </summary>
public sealed class ActivePolicy
{
    private PolicyEngine _current;
    private int _generation;

    public ActivePolicy(PolicyEngine initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        _current = initial;
    }

    /// <summary>The engine in force now.</summary>
    public PolicyEngine Current => Volatile.Read(ref _current);

    /// <summary>How many times the policy was replaced (0 for the initial one).</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Puts <paramref name="next"/> in force for every decision that starts from now on.</summary>
    public void Replace(PolicyEngine next)
    {
        ArgumentNullException.ThrowIfNull(next);
        Volatile.Write(ref _current, next);
        Interlocked.Increment(ref _generation);
    }
}
