using HardenRunner.Policy.Model;

namespace HardenRunner.Hosting;

/// <summary>The options of <c>harden-runner run/start</c> (DESIGN §3).</summary>
public sealed record ApplianceOptions
{
    public const string DefaultStateDir = "/var/lib/harden-runner";

    /// <summary>Where the DNS server listens (loopback); the firewall redirects every port-53 packet here.</summary>
    public const int DefaultDnsPort = 53530;

    public string? PolicyPath { get; init; }

    public EgressMode? EgressOverride { get; init; }

    public string? AllowedEndpoints { get; init; }

    public string? Workspace { get; init; }

    public string StateDir { get; init; } = DefaultStateDir;

    public string? UpstreamDns { get; init; }

    public string? UpstreamCa { get; init; }

    /// <summary>
    /// A directory holding the node's persistent CA (<see cref="Tls.PersistentCertificateAuthority"/>: one CA across
    /// restarts, for a DaemonSet whose pods mounted it). Null: a new in-memory CA per run.
    /// </summary>
    public string? CaDirectory { get; init; }

    public string? ReadyFile { get; init; }

    /// <summary>
    /// <c>--store</c> or <c>$HARDEN_RUNNER_STORE</c>: null or <c>sqlite</c> for the local file only, or a
    /// <c>postgres://</c> URI for fleet mode (<see cref="Store.StoreSelection"/>).
    /// </summary>
    public string? Store { get; init; }

    public int DnsPort { get; init; } = DefaultDnsPort;

    /// <summary>Remove the runner user's sudo rights for the run (also when the policy file says so).</summary>
    public bool DisableSudo { get; init; }

    /// <summary>As <see cref="DisableSudo"/>, and lock the container runtime sockets.</summary>
    public bool DisableSudoAndContainers { get; init; }

    /// <summary>Turn the file integrity monitor off (whatever the policy file says).</summary>
    public bool DisableFileMonitoring { get; init; }

    /// <summary>
    /// Also stream every event as one JSON line to <c>events.jsonl</c> in the state directory (for a log shipper, or
    /// to watch a run live). Off by default: the store is the run's record and every report is built from it; the
    /// second durable write per event cost about as much as answering a DNS query (docs/performance.md).
    /// </summary>
    public bool EventsJsonl { get; init; }

    /// <summary>The runner's user for disable-sudo (default: <c>$SUDO_USER</c>, else <c>runner</c>).</summary>
    public string? RunnerUser { get; init; }

    /// <summary>A token that lets a non-root caller stop the appliance (<c>HARDEN_RUNNER_STOP_TOKEN</c>); see StopAuthorization.</summary>
    public string? StopToken { get; init; }

    public string ResolvConfPath { get; init; } = "/etc/resolv.conf";

    /// <summary>Service mode: the run's id (null: a new one).</summary>
    public string? RunId { get; init; }

    /// <summary>
    /// Service mode: the job's GITHUB_* values (read from its worker), used for the run's coordinates and report
    /// links instead of the appliance's own environment. Null: the appliance's environment.
    /// </summary>
    public IReadOnlyDictionary<string, string>? JobEnvironment { get; init; }

    /// <summary>Look for the policy in the workspace when no path is given (service mode turns this off for a job whose file is invalid).</summary>
    public bool PolicyFromWorkspace { get; init; } = true;

    /// <summary>Service mode: whether this run leaves its firewall table for the next run at stop (null: never).</summary>
    public Service.SessionHandOver? HandOver { get; init; }

    /// <summary>Service mode: the handle through which the service switches this run's policy in place (null: none).</summary>
    public RunControl? Control { get; init; }

    /// <summary>
    /// A network namespace file of the initial network namespace, where the kernel's proc connector lives (the
    /// appliance itself may run in another one, as in the e2e lab).
    /// </summary>
    public string ProcConnectorNetworkNamespace { get; init; } = "/proc/1/ns/net";

    /// <summary>
    /// The policy file to use: <c>--policy</c>, else <c>$GITHUB_WORKSPACE/.harden/policy.yml</c>, else
    /// <c>./.harden/policy.yml</c> when present; null means the embedded default (audit, nothing allowed).
    /// </summary>
    public string? ResolvePolicyPath(Func<string, string?> env, string currentDirectory)
    {
        ArgumentNullException.ThrowIfNull(env);
        if (PolicyPath is not null)
        {
            return PolicyPath;
        }

        if (!PolicyFromWorkspace)
        {
            return null;
        }

        var workspace = Workspace ?? env("GITHUB_WORKSPACE");
        if (!string.IsNullOrEmpty(workspace))
        {
            var candidate = Path.Combine(workspace, ".harden", "policy.yml");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        var local = Path.Combine(currentDirectory, ".harden", "policy.yml");
        return File.Exists(local) ? local : null;
    }
}
