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

    /// <summary>The container or pod the process runs in, when its cgroup names one; null for host processes and unknown layouts.</summary>
    public ContainerInfo? Container { get; init; }
}

/// <summary>
/// The container a process runs in, from its cgroup path (docs/monitoring.md "Containers and pods"):
/// <see cref="Runtime"/> ("docker", "containerd", "cri-o", "podman", or "cri" for a kubepods cgroupfs path that does
/// not name the runtime) and the 64-hex container <see cref="Id"/> always come from the cgroup; <see cref="Name"/>
/// is the container's hostname (a pod's name unless it sets its own hostname or uses the host network), and
/// <see cref="PodUid"/> / <see cref="PodNamespace"/> are set only for Kubernetes pods.
/// </summary>
public sealed record ContainerInfo(string Runtime, string Id, string? Name, string? PodUid, string? PodNamespace);

/// <summary>One ancestor of a <see cref="ProcessInfo"/>: pid and executable.</summary>
public sealed record AncestorInfo(int Pid, string? Exe);

/// <summary>
/// The workflow step responsible for an event (DESIGN §5 <c>step</c>): <see cref="Action"/> is the value of
/// <c>GITHUB_ACTION</c>, <see cref="Uses"/> the value of <c>GITHUB_ACTION_REPOSITORY</c> (null for run steps).
/// </summary>
public sealed record StepInfo(string? Action, string? Uses);
