using System.Globalization;
using System.Text;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;

namespace HardenRunner.Dashboard;

/// <summary>The dashboard's own pages (the run pages are <see cref="HtmlReport"/>). Every recorded string is encoded.</summary>
public static class DashboardPages
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The runs list: filters (server side: repository, workflow, job, runner, mode; in page: any text) and a sortable table.</summary>
    public static string RunsPage(IReadOnlyList<RunListEntry> runs, IReadOnlyList<RunInfo> allRuns, RunFilter filter, string? mode, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(allRuns);
        ArgumentNullException.ThrowIfNull(filter);
        var sb = new StringBuilder(16 * 1024);
        Page.Open(sb, "HardenRunner dashboard");
        Header(sb, "workflow runs recorded in this store", user);
        Filters(sb, "/", allRuns, filter, mode);

        sb.Append("<div class=\"tools\"><input type=\"search\" class=\"filter\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" data-for=\"tbl-runs\"><span class=\"count\" id=\"tbl-runs-count\"></span></div>");
        sb.Append("<table class=\"data\" id=\"tbl-runs\"><thead><tr>");
        foreach (var (head, type) in new[] { ("started", "text"), ("repository", "text"), ("workflow", "text"), ("job", "text"), ("runner", "text"), ("mode", "text"), ("blocked", "num"), ("detections", "num"), ("events", "num"), ("run", "text") })
        {
            sb.Append("<th data-type=\"").Append(type).Append("\">").Append(head).Append("</th>");
        }

        sb.Append("</tr></thead><tbody>\n");
        foreach (var e in runs)
        {
            var r = e.Run;
            var link = "/runs/" + Uri.EscapeDataString(r.Id);
            sb.Append("<tr><td data-sort=\"").Append(HtmlReport.Encode(r.StartedAt.UtcDateTime.ToString("O", Inv))).Append("\">").Append(HtmlReport.Encode(HtmlReport.Time(r.StartedAt))).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(r.Repository)).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(r.Workflow)).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(r.Job)).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(r.HostName)).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.ModeBadge(SqliteEventStore.ModeText(r.Mode))).Append("</td>");
            sb.Append(Inv, $"<td class=\"num\" data-sort=\"{e.Blocked}\">").Append(e.Blocked > 0 ? $"<span class=\"st st-blocked\">{e.Blocked}</span>" : "0").Append("</td>");
            sb.Append(Inv, $"<td class=\"num\" data-sort=\"{e.Detections}\">").Append(e.Detections > 0 ? $"<span class=\"st sev-high\">{e.Detections}</span>" : "0").Append("</td>");
            sb.Append(Inv, $"<td class=\"num\" data-sort=\"{e.Events}\">{e.Events}</td>");
            sb.Append("<td><a href=\"").Append(HtmlReport.Encode(link)).Append("\"><code>").Append(HtmlReport.Encode(r.Id)).Append("</code></a>");
            if (r.EndedAt is null)
            {
                sb.Append(" <span class=\"muted\">(running)</span>");
            }

            sb.Append("</td></tr>\n");
        }

        sb.Append("</tbody></table>");
        if (runs.Count == 0)
        {
            sb.Append("<p class=\"muted\">No runs match.</p>");
        }

        sb.Append("<p class=\"note\">JSON: <a href=\"/api/runs\">/api/runs</a>, <code>/api/runs/ID</code> (the JSON report), <code>/api/runs/ID/events?kind=network|file|process|detection</code>, <a href=\"/api/destinations\">/api/destinations</a>, <a href=\"/api/detections\">/api/detections</a> (same filters as this page).</p>");
        sb.Append("</main>\n");
        Page.Close(sb);
        return sb.ToString();
    }

    /// <summary>Every destination the selected runs contacted, with the jobs (repository · workflow · job) that use it.</summary>
    public static string DestinationsPage(IReadOnlyList<DestinationUse> destinations, IReadOnlyList<RunInfo> allRuns, RunFilter filter, int runCount, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(destinations);
        ArgumentNullException.ThrowIfNull(allRuns);
        ArgumentNullException.ThrowIfNull(filter);
        var sb = new StringBuilder(16 * 1024);
        Page.Open(sb, "Destinations · HardenRunner dashboard");
        Header(sb, string.Create(Inv, $"destinations contacted in {runCount} run(s)"), user);
        Filters(sb, "/destinations", allRuns, filter, null);
        sb.Append("<div class=\"tools\"><input type=\"search\" class=\"filter\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" data-for=\"tbl-destinations\"><span class=\"count\" id=\"tbl-destinations-count\"></span></div>");
        sb.Append("<table class=\"data\" id=\"tbl-destinations\"><thead><tr><th data-type=\"text\">destination</th><th data-type=\"text\">jobs</th><th data-type=\"text\">runners</th><th data-type=\"num\">runs</th><th data-type=\"num\">passed</th><th data-type=\"num\">blocked</th><th data-type=\"text\">last seen</th></tr></thead><tbody>\n");
        foreach (var d in destinations)
        {
            sb.Append("<tr><td><code>").Append(HtmlReport.Encode(d.Destination)).Append("</code></td><td>");
            foreach (var j in d.Jobs)
            {
                sb.Append("<div>").Append(HtmlReport.Encode(j.ToString())).Append("</div>");
            }

            sb.Append("</td><td>").Append(HtmlReport.Encode(string.Join(", ", d.Runners))).Append("</td>");
            sb.Append(Inv, $"<td class=\"num\">{d.Runs}</td><td class=\"num\">{d.Passed}</td>");
            sb.Append(Inv, $"<td class=\"num\" data-sort=\"{d.Blocked}\">").Append(d.Blocked > 0 ? string.Create(Inv, $"<span class=\"st st-blocked\">{d.Blocked}</span>") : "0").Append("</td>");
            sb.Append("<td data-sort=\"").Append(HtmlReport.Encode(d.LastSeen.UtcDateTime.ToString("O", Inv))).Append("\">").Append(HtmlReport.Encode(HtmlReport.Time(d.LastSeen))).Append("</td></tr>\n");
        }

        sb.Append("</tbody></table>");
        if (destinations.Count == 0)
        {
            sb.Append("<p class=\"muted\">No destinations in these runs.</p>");
        }

        sb.Append("</main>\n");
        Page.Close(sb);
        return sb.ToString();
    }

    /// <summary>Every detection of the selected runs, newest first, each linked to its run.</summary>
    public static string DetectionsPage(IReadOnlyList<FleetDetection> detections, IReadOnlyList<RunInfo> allRuns, RunFilter filter, int runCount, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(detections);
        ArgumentNullException.ThrowIfNull(allRuns);
        ArgumentNullException.ThrowIfNull(filter);
        var sb = new StringBuilder(16 * 1024);
        Page.Open(sb, "Detections · HardenRunner dashboard");
        Header(sb, string.Create(Inv, $"detections in {runCount} run(s)"), user);
        Filters(sb, "/detections", allRuns, filter, null);
        sb.Append("<div class=\"tools\"><input type=\"search\" class=\"filter\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" data-for=\"tbl-detections\"><span class=\"count\" id=\"tbl-detections-count\"></span></div>");
        sb.Append("<table class=\"data\" id=\"tbl-detections\"><thead><tr><th data-type=\"text\">time</th><th data-type=\"text\">severity</th><th data-type=\"text\">type</th><th data-type=\"text\">summary</th><th data-type=\"text\">job</th><th data-type=\"text\">runner</th><th data-type=\"text\">run</th></tr></thead><tbody>\n");
        foreach (var d in detections)
        {
            var e = d.Detection;
            sb.Append("<tr><td data-sort=\"").Append(HtmlReport.Encode(e.Time.UtcDateTime.ToString("O", Inv))).Append("\">").Append(HtmlReport.Encode(HtmlReport.Time(e.Time))).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(e.Severity)).Append("</td>");
            sb.Append("<td><code>").Append(HtmlReport.Encode(e.Type)).Append("</code></td>");
            sb.Append("<td>").Append(HtmlReport.Encode(e.Summary)).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(JobKey.Of(d.Run).ToString())).Append("</td>");
            sb.Append("<td>").Append(HtmlReport.Encode(d.Run.HostName)).Append("</td>");
            sb.Append("<td><a href=\"").Append(HtmlReport.Encode("/runs/" + Uri.EscapeDataString(d.Run.Id))).Append("\"><code>").Append(HtmlReport.Encode(d.Run.Id)).Append("</code></a></td></tr>\n");
        }

        sb.Append("</tbody></table>");
        if (detections.Count == 0)
        {
            sb.Append("<p class=\"muted\">No detections in these runs.</p>");
        }

        sb.Append("</main>\n");
        Page.Close(sb);
        return sb.ToString();
    }

    public static string NotFoundPage(string message)
    {
        var sb = new StringBuilder();
        Page.Open(sb, "Not found · HardenRunner dashboard");
        sb.Append("<header><h1>HardenRunner dashboard</h1><div class=\"meta\"><a href=\"/\">← all runs</a></div></header><main><p>")
            .Append(HtmlReport.Encode(message)).Append("</p></main>\n");
        Page.Close(sb);
        return sb.ToString();
    }

    private static void Header(StringBuilder sb, string meta, string? user)
    {
        sb.Append("<header><h1>HardenRunner dashboard</h1><div class=\"meta\">").Append(HtmlReport.Encode(meta));
        if (user is not null)
        {
            sb.Append(" · signed in as <strong>").Append(HtmlReport.Encode(user)).Append("</strong>");
        }

        sb.Append("</div><nav class=\"tools\" id=\"views\"><a href=\"/\">runs</a> · <a href=\"/destinations\">destinations</a> · <a href=\"/detections\">detections</a></nav></header>\n<main>\n");
    }

    private static void Filters(StringBuilder sb, string action, IReadOnlyList<RunInfo> allRuns, RunFilter filter, string? mode)
    {
        sb.Append("<form method=\"get\" action=\"").Append(action).Append("\" class=\"tools\" id=\"run-filters\">");
        Select(sb, "repository", allRuns.Select(r => r.Repository), filter.Repository);
        Select(sb, "workflow", allRuns.Select(r => r.Workflow), filter.Workflow);
        Select(sb, "job", allRuns.Select(r => r.Job), filter.Job);
        Select(sb, "runner", allRuns.Select(r => r.HostName), filter.HostName);
        if (action == "/")
        {
            Select(sb, "mode", ["audit", "block"], mode);
        }

        sb.Append("<button type=\"submit\" class=\"copy\">Apply</button> <a href=\"").Append(action).Append("\">clear</a></form>\n");
    }

    private static void Select(StringBuilder sb, string name, IEnumerable<string?> values, string? selected)
    {
        sb.Append("<label>").Append(name).Append(" <select name=\"").Append(name).Append("\"><option value=\"\">(any)</option>");
        foreach (var v in values.Where(v => !string.IsNullOrEmpty(v)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).Take(500))
        {
            sb.Append("<option value=\"").Append(HtmlReport.Encode(v)).Append('"').Append(v == selected ? " selected" : "").Append('>').Append(HtmlReport.Encode(v)).Append("</option>");
        }

        sb.Append("</select></label>");
    }
}
