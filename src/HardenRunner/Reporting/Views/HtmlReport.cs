using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;

namespace HardenRunner.Reporting.Views;

/// <summary>How an HTML page is framed: a link back (the dashboard's run list) and where else the run can be seen.</summary>
public sealed record HtmlReportOptions
{
    public static readonly HtmlReportOptions Standalone = new();

    /// <summary>A link shown in the header (the dashboard's list of runs), or null for a standalone file.</summary>
    public string? BackLink { get; init; }

    /// <summary>Most rows per table; the rest is counted in a note (the JSON report has everything).</summary>
    public int MaxRows { get; init; } = 5_000;
}

/// <summary>
/// The HTML report (<c>harden-runner report --format html</c>, <c>report.html</c> at stop, and each run's page on the
/// dashboard): one self-contained file — inline style and script, no external resource, works offline — with tabs
/// Summary · Network · HTTPS requests · Files · Processes · Detections · Recommended policy, and sortable, filterable
/// tables. It shows attacker-controlled text (host names, paths, command lines): every recorded string is
/// HTML-encoded (<see cref="Encode"/>), the script never turns text into markup, and the page's
/// Content-Security-Policy (<see cref="HtmlAssets.ContentSecurityPolicy"/>) runs no script but its own.
/// </summary>
public static class HtmlReport
{
    public static readonly (string Id, string Title)[] Tabs =
    [
        ("summary", "Summary"),
        ("network", "Network"),
        ("https", "HTTPS requests"),
        ("files", "Files"),
        ("processes", "Processes"),
        ("detections", "Detections"),
        ("policy", "Recommended policy"),
    ];

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Render(RunReport report, HtmlReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        options ??= HtmlReportOptions.Standalone;
        var run = report.Run;
        var counts = ReportDigest.Counts(report);
        var sb = new StringBuilder(64 * 1024);
        var title = $"HardenRunner report · {Coordinates(run) ?? run.Id}";
        Page.Open(sb, title);

        sb.Append("<header><h1>HardenRunner").Append(ModeBadge(run.EgressPolicy)).Append("</h1><div class=\"meta\">");
        if (options.BackLink is { } back)
        {
            sb.Append("<a href=\"").Append(Encode(back)).Append("\">← all runs</a> · ");
        }

        if (Coordinates(run) is { } coordinates)
        {
            sb.Append(Encode(coordinates)).Append(" · ");
        }

        sb.Append("run <code>").Append(Encode(run.Id)).Append("</code>");
        if (run.RunId is { Length: > 0 } ghRun)
        {
            sb.Append(" · workflow run ").Append(Encode(ghRun));
        }

        sb.Append(" · ").Append(Encode(Time(run.StartedAt))).Append(" to ").Append(run.EndedAt is { } ended ? Encode(Time(ended)) : "(not ended)");
        sb.Append("</div></header>\n");
        if (report.Truncation is { } cut)
        {
            sb.Append("<p class=\"note\"><strong>A very large run</strong>: this page shows ").Append(Encode(cut.Describe()))
                .Append("; its counts and tables cover those. <code>report.json</code> and the store have every event.</p>\n");
        }

        var httpRequests = report.Network.Where(n => n.Kind is "https" or "http").ToList();
        sb.Append("<nav class=\"tabs\" role=\"tablist\">");
        foreach (var (id, text) in Tabs)
        {
            int? n = id switch
            {
                "network" => counts.Destinations,
                "https" => httpRequests.Count,
                "files" => counts.FileChanges,
                "processes" => counts.Processes,
                "detections" => counts.Detections,
                _ => null,
            };
            sb.Append(Inv, $"<button type=\"button\" role=\"tab\" id=\"tabbtn-{id}\" data-tab=\"{id}\" aria-selected=\"false\">{Encode(text)}");
            if (n is { } value)
            {
                var bad = (id == "detections" && value > 0) ? " bad" : "";
                sb.Append(Inv, $"<span class=\"n{bad}\">{value}</span>");
            }

            sb.Append("</button>");
        }

        sb.Append("</nav>\n<main>\n");

        var destinations = ReportDigest.Destinations(report.Network);
        Summary(sb, report, counts, destinations, options);
        Network(sb, report, destinations, options);
        Requests(sb, httpRequests, options);
        Files(sb, report, options);
        Processes(sb, report, options);
        Detections(sb, report, options);
        Policy(sb, report);

        sb.Append("</main>\n");
        Page.Close(sb);
        return sb.ToString();
    }

    /// <summary>Text made safe for HTML content and attribute values.</summary>
    public static string Encode(string? text) => text is null ? "" : HtmlEncoder.Default.Encode(text);

    internal static string ModeBadge(string mode) =>
        $"<span class=\"mode mode-{(mode == "block" ? "block" : "audit")}\">{Encode(mode)} mode</span>";

    internal static string? Coordinates(ReportRun run)
    {
        var parts = new[] { run.Repository, run.Workflow, run.Job }.Where(x => !string.IsNullOrEmpty(x)).ToList();
        return parts.Count == 0 ? null : string.Join(" / ", parts);
    }

    internal static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", Inv);

    private static void Summary(StringBuilder sb, RunReport report, ReportCounts c, IReadOnlyList<DestinationRow> destinations, HtmlReportOptions options)
    {
        sb.Append("<section class=\"tab\" id=\"tab-summary\" role=\"tabpanel\" hidden>\n<div class=\"cards\">");
        Card(sb, "mode", report.Run.EgressPolicy, null);
        Card(sb, "blocked", c.Blocked.ToString(Inv), c.Blocked > 0 ? "bad" : null);
        Card(sb, "denied (audit)", c.DeniedPassed.ToString(Inv), c.DeniedPassed > 0 ? "warn" : null);
        Card(sb, "detections", c.Detections.ToString(Inv), c.Detections > 0 ? "bad" : null);
        Card(sb, "destinations", c.Destinations.ToString(Inv), null);
        Card(sb, "network events", c.NetworkEvents.ToString(Inv), null);
        Card(sb, "DNS queries", c.DnsQueries.ToString(Inv), null);
        Card(sb, "HTTP(S) requests", c.HttpRequests.ToString(Inv), null);
        Card(sb, "files changed (tracked)", $"{c.FileChanges} ({c.TrackedFileChanges})", c.TrackedFileChanges > 0 ? "warn" : null);
        Card(sb, "processes", c.Processes.ToString(Inv), null);
        sb.Append("</div>\n");

        if (report.Detections.Count > 0)
        {
            sb.Append("<h2>Detections</h2><ul>");
            foreach (var d in MarkdownSummary.SortDetections(report.Detections).Take(10))
            {
                sb.Append("<li>").Append(Severity(d.Severity)).Append(" <b>").Append(Encode(d.Type)).Append("</b> ").Append(Encode(d.Summary)).Append("</li>");
            }

            sb.Append("</ul>");
            if (report.Detections.Count > 10)
            {
                sb.Append(Inv, $"<p class=\"note\">{report.Detections.Count - 10} more on the Detections tab.</p>");
            }
        }

        sb.Append("<h2>Outbound destinations</h2>");
        DestinationTable(sb, "tbl-destinations", destinations, options);
        sb.Append("</section>\n");
    }

    private static void Network(StringBuilder sb, RunReport report, IReadOnlyList<DestinationRow> destinations, HtmlReportOptions options)
    {
        sb.Append("<section class=\"tab\" id=\"tab-network\" role=\"tabpanel\" hidden>\n");
        sb.Append("<h2>By step and process</h2><p class=\"note\">Each step's processes that used the network, with their ancestors; each destination is under the process that called it.</p>");
        var trees = ReportDigest.NetworkTrees(report);
        if (trees.Count == 0)
        {
            sb.Append("<p class=\"muted\">No network activity was recorded.</p>");
        }

        foreach (var tree in trees)
        {
            sb.Append("<details class=\"step\" open><summary>").Append(Encode(tree.Step)).Append(Inv, $" <span class=\"muted\">({tree.Events} events)</span></summary><ul class=\"tree\">");
            foreach (var root in tree.Roots)
            {
                Node(sb, root, 0);
            }

            sb.Append("</ul></details>\n");
        }

        sb.Append("<h2>All destinations</h2>");
        DestinationTable(sb, "tbl-network", destinations, options);
        sb.Append("</section>\n");
    }

    private static void Node(StringBuilder sb, ProcessNode node, int depth)
    {
        sb.Append("<li><span class=\"proc\">").Append(Encode(ReportDigest.ExeName(node.Exe))).Append("</span>");
        if (node.Pid >= 0)
        {
            sb.Append(Inv, $" <span class=\"pid\">pid {node.Pid}</span>");
        }

        if (node.Cmdline is { Length: > 0 } cmd)
        {
            sb.Append(" <code>").Append(Encode(Shorten(cmd, 300))).Append("</code>");
        }

        if (node.Destinations.Count > 0)
        {
            sb.Append("<ul class=\"dests\">");
            foreach (var d in node.Destinations)
            {
                sb.Append("<li><code>").Append(Encode(d.Destination)).Append(Inv, $":{d.Port}</code> ").Append(Status(d.Status))
                    .Append(Inv, $" <span class=\"muted\">×{d.Requests} · {Encode(string.Join(", ", d.Kinds))}</span></li>");
            }

            sb.Append("</ul>");
        }

        if (node.Children.Count > 0 && depth < 64)
        {
            sb.Append("<ul>");
            foreach (var child in node.Children)
            {
                Node(sb, child, depth + 1);
            }

            sb.Append("</ul>");
        }

        sb.Append("</li>");
    }

    private static void Requests(StringBuilder sb, List<ReportNetwork> requests, HtmlReportOptions options)
    {
        sb.Append("<section class=\"tab\" id=\"tab-https\" role=\"tabpanel\" hidden>\n");
        var t = new Table(sb, "tbl-https", ["time", "method", "host", "port", "path", "decision", "rule", "process", "step"], ["text", "text", "text", "num", "text", "text", "text", "text", "text"]);
        foreach (var n in requests.Take(options.MaxRows))
        {
            t.Row(
                Cell(Time(n.Time)),
                Cell(n.Method),
                Code(n.Host ?? n.Address),
                Num(n.Port),
                Code(n.Path),
                Raw(Status(Status(n)), StatusSort(n)),
                Cell(n.Rule),
                Cell(ProcessText(n.Process)),
                Cell(n.Step is null ? "" : ReportStep.Label(n.Step)));
        }

        t.End(requests.Count, options.MaxRows, "No HTTP or HTTPS requests were recorded.");
        sb.Append("</section>\n");
    }

    private static void Files(StringBuilder sb, RunReport report, HtmlReportOptions options)
    {
        sb.Append("<section class=\"tab\" id=\"tab-files\" role=\"tabpanel\" hidden>\n");
        var t = new Table(sb, "tbl-files", ["time", "operation", "path", "tracked", "process", "step"], ["text", "text", "text", "text", "text", "text"]);
        foreach (var f in report.Files.Take(options.MaxRows))
        {
            t.Row(
                Cell(Time(f.Time)),
                Cell(f.Operation),
                Code(f.Path),
                Cell(f.Tracked ? "tracked" : ""),
                Cell(ProcessText(f.Process)),
                Cell(f.Step is null ? "" : ReportStep.Label(f.Step)));
        }

        t.End(report.Files.Count, options.MaxRows, "No file changes were recorded.");
        sb.Append("</section>\n");
    }

    private static void Processes(StringBuilder sb, RunReport report, HtmlReportOptions options)
    {
        sb.Append("<section class=\"tab\" id=\"tab-processes\" role=\"tabpanel\" hidden>\n");
        var t = new Table(sb, "tbl-processes", ["start", "pid", "ppid", "executable", "command line", "step"], ["text", "num", "num", "text", "text", "text"]);
        foreach (var p in report.Processes.Take(options.MaxRows))
        {
            t.Row(
                Cell(Time(p.Start)),
                Num(p.Pid),
                Num(p.Ppid),
                Code(p.Exe),
                Code(p.Cmdline is null ? null : Shorten(p.Cmdline, 1000)),
                Cell(p.Step is null ? "" : ReportStep.Label(p.Step)));
        }

        t.End(report.Processes.Count, options.MaxRows, "No processes were recorded.");
        sb.Append("</section>\n");
    }

    private static void Detections(StringBuilder sb, RunReport report, HtmlReportOptions options)
    {
        sb.Append("<section class=\"tab\" id=\"tab-detections\" role=\"tabpanel\" hidden>\n");
        var t = new Table(sb, "tbl-detections", ["severity", "type", "summary", "process", "step", "evidence"], ["num", "text", "text", "text", "text", "text"]);
        foreach (var d in MarkdownSummary.SortDetections(report.Detections).Take(options.MaxRows))
        {
            var evidence = new StringBuilder("<span class=\"ev\">");
            foreach (var (k, v) in d.Evidence.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                evidence.Append(Encode(k)).Append(": <code>").Append(Encode(Shorten(v, 500))).Append("</code><br>");
            }

            evidence.Append("</span>");
            var rank = Array.IndexOf(ReportDigest.Severities, d.Severity);
            t.Row(
                Raw(Severity(d.Severity), (rank < 0 ? 9 : rank).ToString(Inv)),
                Cell(d.Type),
                Cell(d.Summary),
                Cell(ProcessText(d.Process)),
                Cell(d.Step is null ? "" : ReportStep.Label(d.Step)),
                Raw(evidence.ToString(), null));
        }

        t.End(report.Detections.Count, options.MaxRows, "No detections.");
        sb.Append("</section>\n");
    }

    private static void Policy(StringBuilder sb, RunReport report)
    {
        sb.Append("<section class=\"tab\" id=\"tab-policy\" role=\"tabpanel\" hidden>\n<h2>Recommended policy</h2>");
        if (RunReportLoader.RecommendedPolicy(report) is { } policy)
        {
            sb.Append("<p class=\"note\">Review, then commit as <code>.harden/policy.yml</code>. <button type=\"button\" class=\"copy\" data-copy=\"policy-yaml\">Copy</button></p>");
            sb.Append("<pre class=\"yaml\" id=\"policy-yaml\">").Append(Encode(policy)).Append("</pre>");
        }
        else
        {
            sb.Append("<p class=\"muted\">No policy could be recommended from this run.</p>");
        }

        sb.Append("<h2>Recommended GITHUB_TOKEN permissions</h2>");
        if (report.TokenPermissions is { Count: > 0 } permissions)
        {
            sb.Append("<p class=\"note\">For the job's <code>permissions:</code>. <button type=\"button\" class=\"copy\" data-copy=\"permissions-yaml\">Copy</button></p>");
            sb.Append("<pre class=\"yaml\" id=\"permissions-yaml\">").Append(Encode(MarkdownSummary.PermissionsYaml(permissions))).Append("</pre>");
        }
        else
        {
            sb.Append("<p class=\"muted\">No use of the job's GITHUB_TOKEN was observed.</p>");
        }

        sb.Append("</section>\n");
    }

    private static void DestinationTable(StringBuilder sb, string id, IReadOnlyList<DestinationRow> rows, HtmlReportOptions options)
    {
        var t = new Table(sb, id, ["host", "port", "status", "requests", "kinds", "processes", "steps"], ["text", "num", "num", "num", "text", "text", "text"]);
        foreach (var d in rows.Take(options.MaxRows))
        {
            t.Row(
                Code(d.Destination),
                Num(d.Port),
                Raw(Status(d.Status), ((int)d.Status).ToString(Inv)),
                Num(d.Requests),
                Cell(string.Join(", ", d.Kinds)),
                Cell(string.Join(", ", d.Processes)),
                Cell(string.Join(", ", d.Steps)));
        }

        t.End(rows.Count, options.MaxRows, "No network activity was recorded.");
    }

    private static void Card(StringBuilder sb, string key, string value, string? cls) =>
        sb.Append("<div class=\"card").Append(cls is null ? "" : " " + cls).Append("\"><div class=\"v\">").Append(Encode(value))
            .Append("</div><div class=\"k\">").Append(Encode(key)).Append("</div></div>");

    private static DestinationStatus Status(ReportNetwork n) =>
        n.IsBlocked ? DestinationStatus.Blocked : n.IsDeniedPassed ? DestinationStatus.DeniedPassed : DestinationStatus.Allowed;

    private static string StatusSort(ReportNetwork n) => ((int)Status(n)).ToString(Inv);

    private static string Status(DestinationStatus s) => s switch
    {
        DestinationStatus.Blocked => "<span class=\"st st-blocked\">blocked</span>",
        DestinationStatus.DeniedPassed => "<span class=\"st st-denied\">denied (audit)</span>",
        _ => "<span class=\"st st-allowed\">allowed</span>",
    };

    private static string Severity(string severity) =>
        $"<span class=\"st sev-{(Array.IndexOf(ReportDigest.Severities, severity) >= 0 ? severity : "low")}\">{Encode(severity)}</span>";

    private static string ProcessText(ReportProcessRef? p) => p is null
        ? ""
        : p.Container is { } c
            ? $"{ReportDigest.ExeName(p.Exe)} ({p.Pid.ToString(Inv)}, {ReportContainer.Label(c)})"
            : $"{ReportDigest.ExeName(p.Exe)} ({p.Pid.ToString(Inv)})";

    private static string Shorten(string s, int max) => s.Length <= max ? s : s[..max] + "…";

    private static (string Html, string? Sort, string? Class) Cell(string? text) => (Encode(text), null, null);

    private static (string Html, string? Sort, string? Class) Code(string? text) => (text is null ? "" : "<code>" + Encode(text) + "</code>", null, null);

    private static (string Html, string? Sort, string? Class) Num(long n) => (n.ToString(Inv), n.ToString(Inv), "num");

    private static (string Html, string? Sort, string? Class) Raw(string html, string? sort) => (html, sort, null);

    /// <summary>A sortable, filterable table (the page's script does the sorting and filtering).</summary>
    private sealed class Table
    {
        private readonly StringBuilder _sb;
        private readonly string _id;

        public Table(StringBuilder sb, string id, string[] headers, string[] types)
        {
            _sb = sb;
            _id = id;
            sb.Append("<div class=\"tools\"><input type=\"search\" class=\"filter\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" data-for=\"").Append(id)
                .Append("\"><span class=\"count\" id=\"").Append(id).Append("-count\"></span></div>");
            sb.Append("<table class=\"data\" id=\"").Append(id).Append("\"><thead><tr>");
            for (var i = 0; i < headers.Length; i++)
            {
                sb.Append("<th data-type=\"").Append(types[i]).Append("\">").Append(Encode(headers[i])).Append("</th>");
            }

            sb.Append("</tr></thead><tbody>\n");
        }

        public void Row(params (string Html, string? Sort, string? Class)[] cells)
        {
            _sb.Append("<tr>");
            foreach (var (html, sort, cls) in cells)
            {
                _sb.Append("<td");
                if (cls is not null)
                {
                    _sb.Append(" class=\"").Append(cls).Append('"');
                }

                if (sort is not null)
                {
                    _sb.Append(" data-sort=\"").Append(Encode(sort)).Append('"');
                }

                _sb.Append('>').Append(html).Append("</td>");
            }

            _sb.Append("</tr>\n");
        }

        public void End(int total, int max, string empty)
        {
            _sb.Append("</tbody></table>");
            if (total == 0)
            {
                _sb.Append("<p class=\"muted\">").Append(Encode(empty)).Append("</p>");
            }
            else if (total > max)
            {
                _sb.Append(Inv, $"<p class=\"note\">Showing the first {max} of {total} rows of <code>{_id}</code>; the JSON report has all of them.</p>");
            }
        }
    }
}

/// <summary>The frame every HTML page shares (report and dashboard): doctype, CSP, inline style; inline script at the end.</summary>
public static class Page
{
    public static void Open(StringBuilder sb, string title)
    {
        ArgumentNullException.ThrowIfNull(sb);
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
        sb.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"").Append(HtmlReport.Encode(HtmlAssets.ContentSecurityPolicy)).Append("\">\n");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"referrer\" content=\"no-referrer\">\n");
        sb.Append("<title>").Append(HtmlReport.Encode(title)).Append("</title>\n<style>").Append(HtmlAssets.Style).Append("</style></head>\n<body>\n");
    }

    public static void Close(StringBuilder sb)
    {
        ArgumentNullException.ThrowIfNull(sb);
        sb.Append("<script>").Append(HtmlAssets.Script).Append("</script>\n</body></html>\n");
    }
}
