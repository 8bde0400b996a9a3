using System.Globalization;
using System.Text;

namespace HardenRunner.Reporting.Views;

/// <summary>Where a run's full report can be seen: the HTML report file and, when one is configured, the dashboard.</summary>
public sealed record ReportLinks(string? HtmlReportPath, string? DashboardUrl)
{
    public static readonly ReportLinks None = new(null, null);

    /// <summary>The environment variable that names a dashboard's base URL (e.g. <c>http://127.0.0.1:7787</c>).</summary>
    public const string DashboardUrlVariable = "HARDEN_RUNNER_DASHBOARD_URL";

    /// <summary>The run's page on a dashboard at <paramref name="baseUrl"/>, or null.</summary>
    public static string? DashboardRunUrl(string? baseUrl, string runId) =>
        string.IsNullOrWhiteSpace(baseUrl) ? null : $"{baseUrl.TrimEnd('/')}/runs/{Uri.EscapeDataString(runId)}";

    /// <summary>"View security insights and recommended policy at: …", or null when there is nowhere to point.</summary>
    public string? InsightsLine()
    {
        var targets = new[] { HtmlReportPath, DashboardUrl }.Where(t => !string.IsNullOrEmpty(t)).ToList();
        return targets.Count == 0 ? null : "View security insights and recommended policy at: " + string.Join(" and ", targets);
    }
}

/// <summary>
/// The Markdown job summary (<c>harden-runner report --format markdown</c>; appended to <c>$GITHUB_STEP_SUMMARY</c> by
/// <c>stop</c>): mode, counts, outbound destinations (blocked first), detections, the recommended policy as a YAML
/// block, the recommended <c>permissions:</c> block, and where to see more. Every recorded string is escaped
/// (<see cref="Text"/>); tables are cut to stay well under GitHub's 1 MiB summary limit.
/// </summary>
public static class MarkdownSummary
{
    public const int MaxDestinations = 100;
    public const int MaxDetections = 50;

    /// <summary>The summary; <paramref name="eventsLost"/> is the run's count of events that could not be stored (<c>RunInfo.EventsLost</c>).</summary>
    public static string Render(RunReport report, ReportLinks? links = null, long eventsLost = 0)
    {
        ArgumentNullException.ThrowIfNull(report);
        links ??= ReportLinks.None;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var run = report.Run;
        var counts = ReportDigest.Counts(report);

        sb.Append(inv, $"## HardenRunner: {Text(run.EgressPolicy)} mode\n\n");
        var where = new[] { run.Repository, run.Workflow, run.Job }.Where(x => !string.IsNullOrEmpty(x)).Select(x => Text(x!));
        sb.Append("Run ").Append(Text(run.Id));
        if (where.Any())
        {
            sb.Append(" · ").Append(string.Join(" · ", where));
        }

        if (run.RunId is { Length: > 0 } ghRun)
        {
            sb.Append(" · workflow run ").Append(Text(ghRun));
        }

        sb.Append(inv, $" · {Time(run.StartedAt)} to {(run.EndedAt is { } e ? Time(e) : "(not ended)")}\n\n");

        sb.Append("| mode | network events | blocked | denied (audit) | destinations | DNS queries | HTTP(S) requests | files changed (tracked) | processes | detections |\n");
        sb.Append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        sb.Append(inv, $"| {Text(run.EgressPolicy)} | {counts.NetworkEvents} | {counts.Blocked} | {counts.DeniedPassed} | {counts.Destinations} | {counts.DnsQueries} | {counts.HttpRequests} | {counts.FileChanges} ({counts.TrackedFileChanges}) | {counts.Processes} | {counts.Detections} |\n\n");

        if (eventsLost > 0)
        {
            sb.Append(inv, $"**{eventsLost} event(s) could not be recorded**: this record is incomplete.\n\n");
        }

        if (report.Truncation is { } cut)
        {
            sb.Append("**A very large run**: this summary is built from ").Append(Text(cut.Describe()))
                .Append("; the counts and tables below cover those. `report.json` and the store have every event.\n\n");
        }

        var destinations = ReportDigest.Destinations(report.Network);
        sb.Append("### Outbound destinations\n\n");
        if (destinations.Count == 0)
        {
            sb.Append("No network activity was recorded.\n\n");
        }
        else
        {
            sb.Append("| host | port | status | requests | processes | steps |\n|---|---:|---|---:|---|---|\n");
            foreach (var d in destinations.Take(MaxDestinations))
            {
                var status = d.Status == DestinationStatus.Allowed ? d.StatusText : $"**{d.StatusText}**";
                sb.Append(inv, $"| {Text(d.Destination)} | {d.Port} | {status} | {d.Requests} | {List(d.Processes)} | {List(d.Steps)} |\n");
            }

            if (destinations.Count > MaxDestinations)
            {
                sb.Append(inv, $"\n{destinations.Count - MaxDestinations} more destinations are in the full report.\n");
            }

            sb.Append('\n');
        }

        sb.Append(inv, $"### Detections ({report.Detections.Count})\n\n");
        if (report.Detections.Count == 0)
        {
            sb.Append("None.\n\n");
        }
        else
        {
            sb.Append("| severity | type | summary | step | process |\n|---|---|---|---|---|\n");
            foreach (var d in SortDetections(report.Detections).Take(MaxDetections))
            {
                sb.Append(inv, $"| {Text(d.Severity)} | {Text(d.Type)} | {Text(d.Summary)} | {Text(d.Step is null ? "" : ReportStep.Label(d.Step))} | {Text(d.Process is null ? "" : d.Process.Container is { } c ? $"{ReportDigest.ExeName(d.Process.Exe)} ({d.Process.Pid}, {ReportContainer.Label(c)})" : $"{ReportDigest.ExeName(d.Process.Exe)} ({d.Process.Pid})")} |\n");
            }

            if (report.Detections.Count > MaxDetections)
            {
                sb.Append(inv, $"\n{report.Detections.Count - MaxDetections} more detections are in the full report.\n");
            }

            sb.Append('\n');
        }

        sb.Append("### Recommended policy\n\n");
        if (RunReportLoader.RecommendedPolicy(report) is { } policy)
        {
            sb.Append("Commit as `.harden/policy.yml` after review:\n\n");
            Fenced(sb, "yaml", policy);
        }
        else
        {
            sb.Append("No policy could be recommended from this run.\n\n");
        }

        sb.Append("### Recommended GITHUB_TOKEN permissions\n\n");
        if (report.TokenPermissions is { Count: > 0 } permissions)
        {
            Fenced(sb, "yaml", PermissionsYaml(permissions));
        }
        else
        {
            sb.Append("No use of the job's GITHUB_TOKEN was observed.\n\n");
        }

        if (links.InsightsLine() is { } line)
        {
            sb.Append(Text(line)).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>The <c>permissions:</c> block for the recorded token permissions (scopes in name order).</summary>
    public static string PermissionsYaml(IReadOnlyDictionary<string, string> permissions)
    {
        ArgumentNullException.ThrowIfNull(permissions);
        if (permissions.Count == 0)
        {
            return "permissions: {}\n";
        }

        var sb = new StringBuilder("permissions:\n");
        foreach (var (scope, level) in permissions.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            sb.Append("  ").Append(YamlPlain(scope)).Append(": ").Append(YamlPlain(level)).Append('\n');
        }

        return sb.ToString();
    }

    /// <summary>Detections by severity (critical first), then in recorded order.</summary>
    public static IEnumerable<ReportDetection> SortDetections(IEnumerable<ReportDetection> detections) =>
        detections.Select((d, i) => (d, i))
            .OrderBy(x => Array.IndexOf(ReportDigest.Severities, x.d.Severity) is var s and >= 0 ? s : ReportDigest.Severities.Length)
            .ThenBy(x => x.i)
            .Select(x => x.d);

    /// <summary>
    /// Recorded text made inert in Markdown: one line, Markdown punctuation backslash-escaped (so a host name cannot
    /// open a link, an image, code, or end a table cell) and &lt; &gt; &amp; as entities (so no HTML passes).
    /// </summary>
    public static string Text(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            switch (c)
            {
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '&': sb.Append("&amp;"); break;
                case '\r' or '\n' or '\t': sb.Append(' '); break;
                case '\\' or '`' or '*' or '_' or '{' or '}' or '[' or ']' or '(' or ')' or '#' or '+' or '!' or '|' or '~' or '"' or '\'' or ':' or '@':
                    sb.Append('\\').Append(c);
                    break;
                default:
                    sb.Append(char.IsControl(c) ? ' ' : c);
                    break;
            }
        }

        return sb.ToString();
    }

    private static string List(IReadOnlyList<string> items) =>
        items.Count == 0 ? "" : string.Join(", ", items.Take(5).Select(Text)) + (items.Count > 5 ? $", … (+{items.Count - 5})" : "");

    /// <summary>A fenced block whose fence is longer than any backtick run in the text, so the text cannot close it.</summary>
    private static void Fenced(StringBuilder sb, string info, string text)
    {
        var longest = 0;
        var run = 0;
        foreach (var c in text)
        {
            run = c == '`' ? run + 1 : 0;
            longest = Math.Max(longest, run);
        }

        var fence = new string('`', Math.Max(3, longest + 1));
        sb.Append(fence).Append(info).Append('\n').Append(text.ReplaceLineEndings("\n"));
        if (!text.EndsWith('\n'))
        {
            sb.Append('\n');
        }

        sb.Append(fence).Append("\n\n");
    }

    private static string YamlPlain(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? s : "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
