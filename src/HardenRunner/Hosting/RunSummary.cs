using System.Globalization;
using System.Text;
using HardenRunner.Events;
using HardenRunner.Policy.Model;

namespace HardenRunner.Hosting;

/// <summary>The Markdown summary written at stop (appended to $GITHUB_STEP_SUMMARY by <c>harden-runner stop</c>).</summary>
public static class RunSummary
{
    public static string Render(string runId, EgressMode mode, DateTimeOffset started, DateTimeOffset ended, RunTally tally, long droppedEvents)
    {
        ArgumentNullException.ThrowIfNull(tally);
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append("## HardenRunner\n\n");
        sb.Append(inv, $"Run `{runId}` in **{(mode == EgressMode.Block ? "block" : "audit")}** mode, {started:u} to {ended:u}.\n\n");
        var blocked = tally.Count(x => x.Action == NetworkEvent.Blocked);
        var wouldBlock = tally.Count(x => x.Decision == Decision.Deny && x.Action == NetworkEvent.Passed);
        var allowed = tally.Count(x => x.Decision == Decision.Allow);
        sb.Append(inv, $"- {allowed} allowed, {blocked} blocked, {wouldBlock} denied but passed (audit)\n");
        sb.Append(inv, $"- {tally.Detections.Count} detection(s)\n");
        if (droppedEvents > 0)
        {
            sb.Append(inv, $"- **{droppedEvents} event(s) could not be recorded** (the event queue was full)\n");
        }

        var rows = tally.Destinations();
        if (rows.Count > 0)
        {
            sb.Append("\n| destination | port | kind | decision | action | count |\n|---|---:|---|---|---|---:|\n");
            foreach (var r in rows.Take(200))
            {
                sb.Append(inv, $"| `{r.Destination}` | {r.Port} | {r.Kind} | {(r.Decision == Decision.Allow ? "allow" : "deny")} | {r.Action} | {r.Count} |\n");
            }

            if (rows.Count > 200)
            {
                sb.Append(inv, $"\n({rows.Count - 200} more destinations in events.jsonl)\n");
            }
        }

        if (tally.Detections.Count > 0)
        {
            sb.Append("\n### Detections\n\n");
            foreach (var d in tally.Detections.Take(100))
            {
                sb.Append(inv, $"- **{d.Type}** ({d.Severity}): {d.Summary}\n");
            }
        }

        return sb.ToString();
    }
}
