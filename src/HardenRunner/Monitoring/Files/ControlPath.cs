namespace HardenRunner.Monitoring.Files;

/// <summary>
/// A file (or, with <see cref="IsDirectory"/>, every file below a directory) that belongs to the appliance's own
/// controls. A change by any process other than the appliance raises a <see cref="DetectionType"/> detection.
/// A symlink is watched at its own path and at its target (e.g. /etc/resolv.conf → /run/systemd/resolve/stub-resolv.conf).
/// </summary>
public sealed record ControlPath(string Path, string DetectionType, string Severity, string What, bool IsDirectory = false);

/// <summary>The standard control paths and their detection types.</summary>
public static class ControlPaths
{
    public const string ResolverTampered = "resolver-tampered";
    public const string TrustStoreTampered = "trust-store-tampered";

    /// <summary>Not in DESIGN §5's list (an extension): sudo rules changed, e.g. to undo disable-sudo.</summary>
    public const string SudoersTampered = "sudoers-tampered";

    /// <summary>Not in DESIGN §5's list (an extension): the Docker daemon's config changed (its dns, iptables, proxies).</summary>
    public const string DockerConfigTampered = "docker-config-tampered";

    public static ControlPath Resolver(string path = "/etc/resolv.conf") =>
        new(path, ResolverTampered, "high", "resolver configuration");

    public static ControlPath TrustBundle(string path) => new(path, TrustStoreTampered, "high", "trust store bundle");

    public static ControlPath TrustDirectory(string path) => new(path, TrustStoreTampered, "high", "trust store anchors", IsDirectory: true);

    public static ControlPath Sudoers(string path = "/etc/sudoers") => new(path, SudoersTampered, "high", "sudoers");

    public static ControlPath SudoersDirectory(string path = "/etc/sudoers.d") => new(path, SudoersTampered, "high", "sudoers drop-ins", IsDirectory: true);

    public static ControlPath DockerDaemon(string path = "/etc/docker/daemon.json") =>
        new(path, DockerConfigTampered, "medium", "Docker daemon configuration");

    /// <summary>
    /// /etc/resolv.conf, the given trust bundles and anchor directories, /etc/sudoers, /etc/sudoers.d and
    /// /etc/docker/daemon.json (paths that do not exist yet are watched for creation).
    /// </summary>
    public static IReadOnlyList<ControlPath> Standard(IEnumerable<string>? trustBundles = null, IEnumerable<string>? trustDirectories = null) =>
    [
        Resolver(),
        .. (trustBundles ?? []).Select(TrustBundle),
        .. (trustDirectories ?? []).Select(TrustDirectory),
        Sudoers(),
        SudoersDirectory(),
        DockerDaemon(),
    ];
}
