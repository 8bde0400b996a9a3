namespace HardenRunner.Lockdown;

/// <summary>What <see cref="PrivilegeLockdown"/> changes. Paths are configurable so tests can use a private tree.</summary>
public sealed record LockdownOptions
{
    /// <summary>The container runtime sockets <c>disable-sudo-and-containers</c> locks (mode 000), where present.</summary>
    public static IReadOnlyList<string> DefaultContainerSockets { get; } =
    [
        "/run/docker.sock",
        "/var/run/docker.sock",
        "/run/containerd/containerd.sock",
        "/run/podman/podman.sock",
        "/run/crio/crio.sock",
        "/run/buildkit/buildkitd.sock",
    ];

    /// <summary>The user whose sudo rights are removed (the runner's user).</summary>
    public required string User { get; init; }

    /// <summary>Also lock the container runtime sockets.</summary>
    public bool Containers { get; init; }

    public string SudoersPath { get; init; } = "/etc/sudoers";

    public string SudoersDirectory { get; init; } = "/etc/sudoers.d";

    public string PasswdPath { get; init; } = "/etc/passwd";

    public string GroupPath { get; init; } = "/etc/group";

    public IReadOnlyList<string> ContainerSockets { get; init; } = DefaultContainerSockets;
}
