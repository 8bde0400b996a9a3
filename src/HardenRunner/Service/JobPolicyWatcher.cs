using System.Security.Cryptography;

namespace HardenRunner.Service;

/// <summary>What <see cref="JobPolicyWatcher.Observe"/> asks the service to do.</summary>
public abstract record JobPolicyStep;

/// <summary>Load these bytes as the job's policy and, when valid, put it in force; then report with <see cref="JobPolicyWatcher.Taken"/>.</summary>
public sealed record TakeJobPolicy(byte[] Content) : JobPolicyStep;

/// <summary>The file was refused before parsing (a symbolic link, too large, unreadable): record it once.</summary>
public sealed record JobPolicyRefused(string Reason) : JobPolicyStep;

/// <summary>The file changed after a block-mode policy from it was put in force: the change is not applied; record it once.</summary>
public sealed record JobPolicyChangeIgnored : JobPolicyStep;

/// <summary>
/// When a job's <c>.harden/policy.yml</c> is put in force in service mode, from successive looks at it (a pure state
/// machine: no clock, no files). The file is usually written by the job's checkout after the job started, so it is
/// looked at every poll until it appears; it is taken once the same content was seen on two consecutive looks (a
/// checkout still writing it is not caught half-way). After that:
/// <list type="bullet">
/// <item>while what is in force is an audit-mode policy (or none, or an invalid file), a new stable content is taken
/// again: leaving audit mode can only add enforcement, so a new commit's <c>egress-policy: block</c> applies in the
/// same job;</item>
/// <item>once a block-mode policy from the file is in force, the file is not taken again for this job: a later change
/// (a job step rewriting the policy that constrains it) is reported once per content and ignored. On a runner that
/// keeps its workspace between jobs, a change to a block-mode policy therefore applies from the next job.</item>
/// </list>
/// Not thread-safe: use from one thread.
/// </summary>
public sealed class JobPolicyWatcher
{
    private string? _lastLook;
    private string? _taken;
    private bool _enforcing;
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);

    /// <summary>True once a block-mode policy from the file is in force.</summary>
    public bool Enforcing => _enforcing;

    /// <summary>
    /// One look at the file: its bytes, or null when it does not exist; <paramref name="refusal"/> when it exists but
    /// was not read (then <paramref name="content"/> is null). Returns what to do, or null for nothing.
    /// </summary>
    public JobPolicyStep? Observe(byte[]? content, string? refusal = null)
    {
        if (content is null && refusal is null)
        {
            _lastLook = null;
            return null;
        }

        var fingerprint = content is null ? "refused:" + refusal : Convert.ToHexString(SHA256.HashData(content));
        var stable = fingerprint == _lastLook;
        _lastLook = fingerprint;
        if (!stable || fingerprint == _taken)
        {
            return null;
        }

        if (_enforcing)
        {
            return _reported.Add(fingerprint) ? new JobPolicyChangeIgnored() : null;
        }

        _taken = fingerprint;
        return content is null ? new JobPolicyRefused(refusal!) : new TakeJobPolicy(content);
    }

    /// <summary>
    /// The outcome of a <see cref="TakeJobPolicy"/>: <paramref name="enforcing"/> when a block-mode policy is now in
    /// force (the file is not taken again); false for an audit-mode or invalid file (a new content is taken again).
    /// </summary>
    public void Taken(bool enforcing) => _enforcing |= enforcing;

    /// <summary>The last take could not be carried out (the session was not ready): take the same content again at the next stable look.</summary>
    public void Retry() => _taken = null;
}
