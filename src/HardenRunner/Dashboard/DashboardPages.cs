using System.Globalization;
using System.Text;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;

namespace HardenRunner.Dashboard;

/// <summary>The dashboard's own pages (the run pages are <see cref="HtmlReport"/>). Every recorded string is encoded.</summary>
public static class DashboardPages
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The runs list: filters (server side: repository, workflow, job, mode; in page: any text) and a sortable table.</summary>
    public static string RunsPage(IReadOnlyList<RunListEntry> runs, IReadOnlyList<RunInfo> allRuns, RunFilter filter, string? mode)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(allRuns);
        ArgumentNullException.ThrowIfNull(filter);
        var sb = new StringBuilder(16 * 1024);
        Page.Open(sb, "HardenRunner dashboard");
        sb.Append("<header><h1>HardenRunner dashboard</h1><div class=\"meta\">workflow runs recorded in this store</div></header>\n<main>\n");

        sb.Append("<form method=\"get\" action=\"/\" class=\"tools\" id=\"run-filters\">");
        Select(sb, "repository", allRuns.Select(r => r.Repository), filter.Repository);
        Select(sb, "workflow", allRuns.Select(r => r.Workflow), filter.Workflow);
        Select(sb, "job", allRuns.Select(r => r.Job), filter.Job);
        Select(sb, "mode", ["audit", "block"], mode);
        sb.Append("<button type=\"submit\" class=\"copy\">Apply</button> <a href=\"/\">clear</a></form>\n");

        sb.Append("<div class=\"tools\"><input type=\"search\" class=\"filter\" placeholder=\"Filter rows…\" aria-label=\"Filter rows\" data-for=\"tbl-runs\"><span class=\"count\" id=\"tbl-runs-count\"></span></div>");
        sb.Append("<table class=\"data\" id=\"tbl-runs\"><thead><tr>");
        foreach (var (head, type) in new[] { ("started", "text"), ("repository", "text"), ("workflow", "text"), ("job", "text"), ("mode", "text"), ("blocked", "num"), ("detections", "num"), ("events", "num"), ("run", "text") })
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

        sb.Append("<p class=\"note\">JSON: <a href=\"/api/runs\">/api/runs</a>, <code>/api/runs/ID</code> (the JSON report), <code>/api/runs/ID/events?kind=network|file|process|detection</code>.</p>");
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
