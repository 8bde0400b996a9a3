using System.Text.Json.Serialization;

namespace HardenRunner.Reporting.Views;

/// <summary>
/// The JSON report (DESIGN §5, docs/report.schema.json) read back as objects: what the Markdown summary, the HTML
/// report, SARIF and the dashboard render. It is built from the JSON report itself (<see cref="RunReportLoader"/>), so
/// whatever the JSON report carries — <c>recommendedPolicy</c>, <c>tokenPermissions</c>, detections computed at report
/// time — every view shows the same thing.
/// </summary>
public sealed class RunReport
{
    public int SchemaVersion { get; init; }

    public ReportRun Run { get; init; } = new();

    public IReadOnlyList<ReportNetwork> Network { get; init; } = [];

    public IReadOnlyList<ReportFile> Files { get; init; } = [];

    public IReadOnlyList<ReportProcess> Processes { get; init; } = [];

    public IReadOnlyList<ReportDetection> Detections { get; init; } = [];

    public string? RecommendedPolicy { get; init; }

    public IReadOnlyDictionary<string, string>? TokenPermissions { get; init; }

    /// <summary>Set by <see cref="RunReportLoader.LoadAsync"/> when a list was cut to its first events (not part of report.json).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ReportTruncation? Truncation { get; internal set; }
}

public sealed class ReportRun
{
    public string Id { get; init; } = "";

    public DateTimeOffset StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    public string EgressPolicy { get; init; } = "audit";

    public string? Repository { get; init; }

    public string? Workflow { get; init; }

    public string? Job { get; init; }

    public string? RunId { get; init; }
}

public sealed class ReportNetwork
{
    public DateTimeOffset Time { get; init; }

    public string Kind { get; init; } = "";

    public string? Host { get; init; }

    public string? Address { get; init; }

    public int Port { get; init; }

    public string? Method { get; init; }

    public string? Path { get; init; }

    public string Decision { get; init; } = "";

    public string Action { get; init; } = "";

    public string? Rule { get; init; }

    public ReportProcessRef? Process { get; init; }

    public ReportStep? Step { get; init; }

    /// <summary>The name, else the address, else "?".</summary>
    [JsonIgnore]
    public string Destination => Host ?? Address ?? "?";

    [JsonIgnore]
    public bool IsBlocked => Action == "blocked";

    /// <summary>Denied by the policy but let through (audit mode).</summary>
    [JsonIgnore]
    public bool IsDeniedPassed => Decision == "deny" && Action != "blocked";
}

public sealed class ReportFile
{
    public DateTimeOffset Time { get; init; }

    public string Path { get; init; } = "";

    public string Operation { get; init; } = "";

    public bool Tracked { get; init; }

    public ReportProcessRef? Process { get; init; }

    public ReportStep? Step { get; init; }
}

public sealed class ReportProcess
{
    public int Pid { get; init; }

    public int Ppid { get; init; }

    public string? Exe { get; init; }

    public string? Cmdline { get; init; }

    public DateTimeOffset Start { get; init; }

    public ReportStep? Step { get; init; }
}

public sealed class ReportDetection
{
    public string Type { get; init; } = "";

    public string Severity { get; init; } = "";

    public string Summary { get; init; } = "";

    public ReportProcessRef? Process { get; init; }

    public ReportStep? Step { get; init; }

    public IReadOnlyDictionary<string, string> Evidence { get; init; } = new Dictionary<string, string>();
}

public sealed class ReportProcessRef
{
    public int Pid { get; init; }

    public string? Exe { get; init; }

    public string? Cmdline { get; init; }

    /// <summary>Nearest first.</summary>
    public IReadOnlyList<ReportAncestor> Ancestors { get; init; } = [];

    /// <summary>The container the process ran in, when its cgroup named one.</summary>
    public ReportContainer? Container { get; init; }
}

public sealed class ReportContainer
{
    public string Runtime { get; init; } = "";

    public string Id { get; init; } = "";

    public string? Name { get; init; }

    public string? PodUid { get; init; }

    public string? PodNamespace { get; init; }

    /// <summary>How a container is shown: "pod ns/name", else "container name", else "container" and the short id.</summary>
    public static string Label(ReportContainer c) => c switch
    {
        { PodUid: not null, Name: { Length: > 0 } name } => c.PodNamespace is { Length: > 0 } ns ? $"pod {ns}/{name}" : $"pod {name}",
        { PodUid: not null } => $"pod {c.PodUid}",
        _ => $"container {(c.Id.Length > 12 ? c.Id[..12] : c.Id)}{(c.Name is { Length: > 0 } n && !c.Id.StartsWith(n, StringComparison.Ordinal) ? $" {n}" : "")}",
    };
}

public sealed class ReportAncestor
{
    public int Pid { get; init; }

    public string? Exe { get; init; }
}

public sealed class ReportStep
{
    public string? Action { get; init; }

    public string? Uses { get; init; }

    /// <summary>How a step is shown: <c>uses</c> (the action) and <c>GITHUB_ACTION</c>, e.g. "actions/checkout (actions_checkout)" or "__run_2".</summary>
    public static string Label(ReportStep? step) => step switch
    {
        null => "(unknown step)",
        { Uses: { Length: > 0 } uses, Action: { Length: > 0 } action } => $"{uses} ({action})",
        { Uses: { Length: > 0 } uses } => uses,
        { Action: { Length: > 0 } action } => action,
        _ => "(unknown step)",
    };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(RunReport))]
[JsonSerializable(typeof(IReadOnlyList<ReportNetwork>))]
[JsonSerializable(typeof(IReadOnlyList<ReportFile>))]
[JsonSerializable(typeof(IReadOnlyList<ReportProcess>))]
[JsonSerializable(typeof(IReadOnlyList<ReportDetection>))]
internal sealed partial class ReportModelJsonContext : JsonSerializerContext;

/// <summary>
/// The views of a very large run are rendered from the first <see cref="Limit"/> events of each list (memory and a
/// browser page stay bounded); the totals say how many the run has. report.json always has every event.
/// </summary>
public sealed record ReportTruncation(int Limit, long Network, long Files, long Processes, long Detections)
{
    /// <summary>"the first 20,000 of 680,000 network events, …" for the lists that were cut.</summary>
    public string Describe()
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var cut = new List<string>();
        foreach (var (total, what) in new[] { (Network, "network events"), (Files, "file events"), (Processes, "processes"), (Detections, "detections") })
        {
            if (total > Limit)
            {
                cut.Add(string.Create(inv, $"the first {Limit:N0} of {total:N0} {what}"));
            }
        }

        return string.Join(", ", cut);
    }
}
