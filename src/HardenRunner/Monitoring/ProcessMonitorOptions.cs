namespace HardenRunner.Monitoring;

/// <summary>Settings of <see cref="ProcessMonitor"/>. The defaults suit a CI runner.</summary>
public sealed record ProcessMonitorOptions
{
    /// <summary>Publish a <see cref="Events.ProcessEvent"/> for every exec.</summary>
    public bool PublishProcessEvents { get; init; } = true;

    /// <summary>Use /proc scanning even when the proc connector works (tests; a kernel without CONFIG_PROC_EVENTS).</summary>
    public bool ForceProcScan { get; init; }

    /// <summary>How often the fallback scanner lists /proc. Processes shorter-lived than this can be missed.</summary>
    public TimeSpan ScanInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Network namespace to open the proc-connector socket in. The connector exists only in the initial namespace;
    /// an appliance started inside another one (the e2e lab) passes a path to the host's, e.g. /proc/&lt;pid of a
    /// host-namespace process&gt;/ns/net. Null: the monitor's own namespace.
    /// </summary>
    public string? ConnectorNetworkNamespace { get; init; }

    /// <summary>Network namespace whose sockets attribution looks up (the runner's); null: the monitor's own.</summary>
    public string? SocketNetworkNamespace { get; init; }

    /// <summary>Socket buffer of the connector: a burst (make -j) waits here while the reader works. The kernel needs CAP_NET_ADMIN to exceed rmem_max.</summary>
    public int ConnectorReceiveBufferBytes { get; init; } = 32 << 20;

    /// <summary>Longest command line recorded (bytes of /proc/&lt;pid&gt;/cmdline); longer ones end in "…".</summary>
    public int MaxCmdlineBytes { get; init; } = 4096;

    /// <summary>Processes remembered at once (running and recently exited).</summary>
    public int TableCapacity { get; init; } = 65536;

    /// <summary>How long an exited process stays known, so late network events can still be attributed to it.</summary>
    public TimeSpan ExitGrace { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Programs whose descendants are the job (sudo-used is raised below them).</summary>
    public IReadOnlyList<string> WorkerNames { get; init; } = ["Runner.Worker"];

    /// <summary>Programs whose memory holds the job's secrets (runner-memory-read watches them).</summary>
    public IReadOnlyList<string> ProtectedNames { get; init; } = ["Runner.Worker", "Runner.Listener"];

    /// <summary>Use fanotify for runner-memory-read (falls back to descriptor scans when false or unavailable).</summary>
    public bool UseFanotify { get; init; } = true;

    /// <summary>Detections of one type reported at most; the rest are counted (<see cref="ProcessMonitorStats.DetectionsSuppressed"/>).</summary>
    public int MaxDetectionsPerType { get; init; } = 100;

    /// <summary>How often upkeep runs: table sweep, new worker threads marked, tracer/descriptor polls.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);
}
