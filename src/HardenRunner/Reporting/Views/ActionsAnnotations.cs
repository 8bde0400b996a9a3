using System.Text;

namespace HardenRunner.Reporting.Views;

/// <summary>
/// GitHub Actions workflow commands for a run's detections: <c>::error</c> for critical and high, <c>::warning</c>
/// for medium and low. Recorded text is escaped as the runner expects (<c>%</c>, CR, LF; and <c>:</c>, <c>,</c> in
/// properties), so a hostile string cannot end the command or start another one.
/// </summary>
public static class ActionsAnnotations
{
    public const int MaxAnnotations = 50;

    /// <summary>True when running as a GitHub Actions step (<c>GITHUB_ACTIONS=true</c>).</summary>
    public static bool InGitHubActions(Func<string, string?> env)
    {
        ArgumentNullException.ThrowIfNull(env);
        return string.Equals(env("GITHUB_ACTIONS"), "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>One workflow command per detection (critical first), at most <see cref="MaxAnnotations"/>.</summary>
    public static IReadOnlyList<string> Render(RunReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var lines = new List<string>();
        foreach (var d in MarkdownSummary.SortDetections(report.Detections).Take(MaxAnnotations))
        {
            var command = d.Severity is "critical" or "high" ? "error" : "warning";
            var message = new StringBuilder(d.Summary);
            if (d.Step is not null)
            {
                message.Append(" (step ").Append(ReportStep.Label(d.Step)).Append(')');
            }

            if (d.Process is not null)
            {
                message.Append(" (process ").Append(ReportDigest.ExeName(d.Process.Exe)).Append(' ').Append(d.Process.Pid).Append(')');
            }

            lines.Add($"::{command} title={Property($"HardenRunner {d.Type} ({d.Severity})")}::{Data(message.ToString())}");
        }

        if (report.Detections.Count > MaxAnnotations)
        {
            lines.Add($"::warning title=HardenRunner::{report.Detections.Count - MaxAnnotations} more detections are in the report");
        }

        return lines;
    }

    /// <summary>A command's message, escaped.</summary>
    public static string Data(string s) =>
        s.Replace("%", "%25", StringComparison.Ordinal).Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

    /// <summary>A command's property value, escaped.</summary>
    public static string Property(string s) =>
        Data(s).Replace(":", "%3A", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);
}
