namespace HardenRunner.Events;

/// <summary>
/// The process responsible for an event (DESIGN §5 <c>process</c>): its pid, executable, command line and its
/// ancestors, nearest first. Any part may be unknown (the process may have exited before it was looked up).
/// Command lines are recorded as seen; every sink redacts secrets before anything is written.
/// </summary>
public sealed record ProcessInfo(int Pid, string? Exe, string? Cmdline, IReadOnlyList<AncestorInfo> Ancestors)
{
    public ProcessInfo(int pid, string? exe, string? cmdline)
        : this(pid, exe, cmdline, [])
    {
    }
}

/// <summary>One ancestor of a <see cref="ProcessInfo"/>: pid and executable.</summary>
public sealed record AncestorInfo(int Pid, string? Exe);

/// <summary>
/// The workflow step responsible for an event (DESIGN §5 <c>step</c>): <see cref="Action"/> is the value of
/// <c>GITHUB_ACTION</c>, <see cref="Uses"/> the value of <c>GITHUB_ACTION_REPOSITORY</c> (null for run steps).
/// </summary>
public sealed record StepInfo(string? Action, string? Uses);
