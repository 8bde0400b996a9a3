namespace HardenRunner.Reporting.Views;

/// <summary>How a destination fared in a run.</summary>
public enum DestinationStatus
{
    /// <summary>At least one flow was blocked.</summary>
    Blocked,

    /// <summary>Denied by the policy but let through (audit mode).</summary>
    DeniedPassed,

    Allowed,
}

/// <summary>One outbound destination of a run: every network event to one (host or address, port).</summary>
public sealed record DestinationRow(
    string Destination,
    int Port,
    DestinationStatus Status,
    int Requests,
    IReadOnlyList<string> Processes,
    IReadOnlyList<string> Steps,
    IReadOnlyList<string> Kinds)
{
    public string StatusText => StatusName(Status);

    public static string StatusName(DestinationStatus status) => status switch
    {
        DestinationStatus.Blocked => "blocked",
        DestinationStatus.DeniedPassed => "denied (audit)",
        _ => "allowed",
    };
}

/// <summary>The counts of a run at a glance.</summary>
public sealed record ReportCounts(
    int NetworkEvents,
    int DnsQueries,
    int HttpRequests,
    int Blocked,
    int DeniedPassed,
    int Destinations,
    int FileChanges,
    int TrackedFileChanges,
    int Processes,
    int Detections,
    IReadOnlyDictionary<string, int> DetectionsBySeverity);

/// <summary>A node of a step's process tree: one process, the destinations it called itself, its children.</summary>
public sealed class ProcessNode
{
    public ProcessNode(int pid, string? exe)
    {
        Pid = pid;
        Exe = exe;
    }

    public int Pid { get; }

    public string? Exe { get; internal set; }

    public string? Cmdline { get; internal set; }

    public List<ProcessNode> Children { get; } = [];

    /// <summary>The destinations this process called (not its children), blocked first.</summary>
    public List<DestinationRow> Destinations { get; } = [];

    internal Dictionary<(string, int), List<ReportNetwork>> Calls { get; } = [];
}

/// <summary>The network activity of one step as a process tree.</summary>
public sealed record StepTree(string Step, IReadOnlyList<ProcessNode> Roots, int Events);

/// <summary>Aggregations the views share: counts, the destinations table, the process tree per step.</summary>
public static class ReportDigest
{
    public static readonly string[] Severities = ["critical", "high", "medium", "low"];

    public static ReportCounts Counts(RunReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var bySeverity = Severities.ToDictionary(s => s, s => report.Detections.Count(d => d.Severity == s), StringComparer.Ordinal);
        return new ReportCounts(
            report.Network.Count,
            report.Network.Count(n => n.Kind == "dns"),
            report.Network.Count(n => n.Kind is "https" or "http"),
            report.Network.Count(n => n.IsBlocked),
            report.Network.Count(n => n.IsDeniedPassed),
            Destinations(report.Network).Count,
            report.Files.Count,
            report.Files.Count(f => f.Tracked),
            report.Processes.Count,
            report.Detections.Count,
            bySeverity);
    }

    /// <summary>
    /// Outbound destinations: blocked first, then denied-but-passed, then allowed; busiest first within each. A DNS
    /// query counts as a destination (port 53) only for a name the run never connected to (e.g. one refused at DNS).
    /// </summary>
    public static IReadOnlyList<DestinationRow> Destinations(IEnumerable<ReportNetwork> network)
    {
        ArgumentNullException.ThrowIfNull(network);
        return [.. WithoutRedundantDns(network.ToList())
            .GroupBy(n => (n.Destination.ToLowerInvariant(), n.Port))
            .Select(g => Row(g.First().Destination, g.Key.Port, g.ToList()))
            .OrderBy(r => r.Status)
            .ThenByDescending(r => r.Requests)
            .ThenBy(r => r.Destination, StringComparer.Ordinal)
            .ThenBy(r => r.Port)];
    }

    /// <summary>
    /// Per step, the processes that made network calls with their ancestors as a tree (root first), each destination
    /// under the process that called it. Events without a known process hang under "(unknown process)".
    /// </summary>
    public static IReadOnlyList<StepTree> NetworkTrees(RunReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var exes = new Dictionary<int, ReportProcess>();
        foreach (var p in report.Processes)
        {
            exes[p.Pid] = p;
        }

        var trees = new List<StepTree>();
        foreach (var step in WithoutRedundantDns(report.Network).GroupBy(n => ReportStep.Label(n.Step)).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var roots = new List<ProcessNode>();
            var nodes = new Dictionary<int, ProcessNode>();
            foreach (var n in step)
            {
                var chain = new List<(int Pid, string? Exe)>();
                if (n.Process is { } p)
                {
                    chain.AddRange(p.Ancestors.Reverse().Select(a => (a.Pid, a.Exe)));
                    chain.Add((p.Pid, p.Exe));
                }
                else
                {
                    chain.Add((-1, "(unknown process)"));
                }

                ProcessNode? parent = null;
                foreach (var (pid, exe) in chain)
                {
                    if (!nodes.TryGetValue(pid, out var node))
                    {
                        node = new ProcessNode(pid, exe ?? (exes.TryGetValue(pid, out var known) ? known.Exe : null));
                        nodes[pid] = node;
                        (parent?.Children ?? roots).Add(node);
                    }

                    node.Exe ??= exe;
                    parent = node;
                }

                if (n.Process is { Cmdline: { } cmd })
                {
                    parent!.Cmdline ??= cmd;
                }
                else if (parent!.Cmdline is null && exes.TryGetValue(parent.Pid, out var proc))
                {
                    parent.Cmdline = proc.Cmdline;
                }

                var key = (n.Destination.ToLowerInvariant(), n.Port);
                if (!parent.Calls.TryGetValue(key, out var calls))
                {
                    calls = [];
                    parent.Calls[key] = calls;
                }

                calls.Add(n);
            }

            foreach (var node in nodes.Values)
            {
                node.Destinations.AddRange(node.Calls
                    .Select(c => Row(c.Value[0].Destination, c.Key.Item2, c.Value))
                    .OrderBy(r => r.Status).ThenBy(r => r.Destination, StringComparer.Ordinal).ThenBy(r => r.Port));
                node.Calls.Clear();
            }

            trees.Add(new StepTree(step.Key, roots, step.Count()));
        }

        return trees;
    }

    /// <summary>The events less DNS queries for names that also appear in a connection (the connection says more).</summary>
    public static IEnumerable<ReportNetwork> WithoutRedundantDns(IReadOnlyList<ReportNetwork> network)
    {
        ArgumentNullException.ThrowIfNull(network);
        var connected = new HashSet<string>(network.Where(n => n.Kind != "dns" && n.Host is not null).Select(n => Key(n.Host!)), StringComparer.Ordinal);
        return network.Where(n => n.Kind != "dns" || n.Host is null || !connected.Contains(Key(n.Host)));
    }

    private static string Key(string host) => host.TrimEnd('.').ToLowerInvariant();

    /// <summary>The last path segment of an executable ("/usr/bin/curl" → "curl").</summary>
    public static string ExeName(string? exe) =>
        string.IsNullOrEmpty(exe) ? "?" : exe[(exe.LastIndexOf('/') + 1)..] is { Length: > 0 } name ? name : exe;

    private static DestinationRow Row(string destination, int port, List<ReportNetwork> events)
    {
        var status = events.Any(e => e.IsBlocked) ? DestinationStatus.Blocked
            : events.Any(e => e.IsDeniedPassed) ? DestinationStatus.DeniedPassed
            : DestinationStatus.Allowed;
        return new DestinationRow(
            destination,
            port,
            status,
            events.Count,
            [.. events.Where(e => e.Process is not null).Select(e => ExeName(e.Process!.Exe)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            [.. events.Where(e => e.Step is not null).Select(e => ReportStep.Label(e.Step)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
            [.. events.Select(e => e.Kind).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)]);
    }
}
