using System.Text;
using HardenRunner.Store;

namespace HardenRunner.Reporting.Views;

/// <summary>
/// The views of a run by format name (<c>markdown</c>, <c>html</c>, <c>sarif</c>), and the files written at stop:
/// <c>summary.md</c> and <c>report.html</c> beside <c>report.json</c> in the state directory.
/// </summary>
public static class ReportViews
{
    public const string HtmlFileName = "report.html";
    public const string SummaryFileName = "summary.md";

    /// <summary>
    /// What <c>stop</c> prints after the summary, written by the appliance at stop so that a caller who cannot open the
    /// store (a non-root post step) can print it: one <c>::error</c>/<c>::warning</c> line per detection, then the
    /// "View security insights …" line.
    /// </summary>
    public const string NoticesFileName = "notices.txt";

    /// <summary>Renders <paramref name="run"/> as <paramref name="format"/> (markdown, html or sarif).</summary>
    public static async Task<string> RenderAsync(IEventStore store, RunInfo run, string format, ReportLinks links, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(links);
        var report = await RunReportLoader.LoadAsync(store, run, cancellationToken).ConfigureAwait(false);
        return format switch
        {
            ReportRunner.MarkdownFormat => MarkdownSummary.Render(report, links, run.EventsLost),
            ReportRunner.HtmlFormat => HtmlReport.Render(report),
            ReportRunner.SarifFormat => SarifReport.Render(report, typeof(ReportViews).Assembly.GetName().Version?.ToString(3)),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a view format"),
        };
    }

    /// <summary>
    /// Where the run can be seen: <c>report.html</c> under <paramref name="stateDir"/> when it exists (null: no file),
    /// and the run's page on the dashboard named by <see cref="ReportLinks.DashboardUrlVariable"/> when set.
    /// </summary>
    public static ReportLinks LinksIn(string? stateDir, string runId, Func<string, string?> env)
    {
        ArgumentNullException.ThrowIfNull(env);
        var html = stateDir is null ? null : Path.Combine(stateDir, HtmlFileName);
        return new ReportLinks(html is not null && File.Exists(html) ? html : null, ReportLinks.DashboardRunUrl(env(ReportLinks.DashboardUrlVariable), runId));
    }

    /// <summary>
    /// At stop: writes <c>report.html</c>, <c>summary.md</c> and <c>notices.txt</c> (mode 0600) for run <paramref name="runId"/> under
    /// <paramref name="stateDir"/>; returns the summary text. The JSON report written just before (<c>report.json</c>)
    /// is read back when it is this run's, instead of being rendered again (for a large run that is most of the time).
    /// </summary>
    public static async Task<string> WriteStopReportsAsync(IEventStore store, string runId, string stateDir, Func<string, string?> env, CancellationToken cancellationToken = default, int maxEventsPerSection = RunReportLoader.ViewLimit)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(env);
        var run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreException($"unknown run '{runId}'");
        // the views show what report.json says when it can be loaded whole; a very large run's views come from the
        // store instead, each list cut at the views' limit (RunReport.Truncation says so)
        var report = await ReadWrittenJsonAsync(Path.Combine(stateDir, RunReportFile.JsonFileName), runId, maxEventsPerSection, cancellationToken).ConfigureAwait(false)
            ?? await RunReportLoader.LoadAsync(store, run, cancellationToken, maxEventsPerSection).ConfigureAwait(false);
        var htmlPath = Path.Combine(stateDir, HtmlFileName);
        await WriteTextAsync(htmlPath, HtmlReport.Render(report), cancellationToken).ConfigureAwait(false);
        var links = new ReportLinks(htmlPath, ReportLinks.DashboardRunUrl(env(ReportLinks.DashboardUrlVariable), runId));
        var summary = MarkdownSummary.Render(report, links, run.EventsLost);
        await WriteTextAsync(Path.Combine(stateDir, SummaryFileName), summary, cancellationToken).ConfigureAwait(false);
        var notices = new List<string>(ActionsAnnotations.Render(report));
        if (links.InsightsLine() is { } insights)
        {
            notices.Add(insights);
        }

        await WriteTextAsync(Path.Combine(stateDir, NoticesFileName), string.Concat(notices.Select(n => n + "\n")), cancellationToken).ConfigureAwait(false);
        return summary;
    }

    /// <summary>
    /// What <c>harden-runner stop</c> prints after the summary: under GitHub Actions one <c>::error</c>/<c>::warning</c>
    /// per detection of the latest run, then the "View security insights …" line. Nothing when the store has no run.
    /// </summary>
    public static async Task<IReadOnlyList<string>> StopNoticesAsync(string stateDir, Func<string, string?> env, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(env);
        var dbPath = SqliteEventStore.PathIn(stateDir);
        if (!File.Exists(dbPath))
        {
            return [];
        }

        await using var store = SqliteEventStore.Open(dbPath);
        var run = (await store.ListRunsAsync(new RunFilter { Limit = 1 }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
        if (run is null)
        {
            return [];
        }

        var lines = new List<string>();
        if (ActionsAnnotations.InGitHubActions(env))
        {
            var report = await RunReportLoader.LoadAsync(store, run, cancellationToken).ConfigureAwait(false);
            lines.AddRange(ActionsAnnotations.Render(report));
        }

        if (LinksIn(stateDir, run.Id, env).InsightsLine() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>
    /// The lines of a <see cref="NoticesFileName"/> to print: the annotations only under GitHub Actions (they are
    /// workflow commands), every other line always.
    /// </summary>
    public static IEnumerable<string> NoticesToPrint(IEnumerable<string> lines, Func<string, string?> env)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var annotations = ActionsAnnotations.InGitHubActions(env);
        return lines.Where(l => l.Length > 0 && (annotations || !l.StartsWith("::", StringComparison.Ordinal)));
    }

    /// <summary>
    /// The JSON report at <paramref name="path"/> when it exists, parses, is run <paramref name="runId"/>'s and has no
    /// list longer than <paramref name="maxEventsPerSection"/> (a file past <see cref="MaxWholeReportBytes"/> is not
    /// read at all); otherwise null.
    /// </summary>
    private static async Task<RunReport?> ReadWrittenJsonAsync(string path, string runId, int maxEventsPerSection, CancellationToken cancellationToken)
    {
        try
        {
            var file = new FileInfo(path);
            if (!file.Exists || file.Length > MaxWholeReportBytes)
            {
                return null;
            }

            await using var stream = file.OpenRead();
            var report = await RunReportLoader.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
            var whole = report.Network.Count <= maxEventsPerSection && report.Files.Count <= maxEventsPerSection
                && report.Processes.Count <= maxEventsPerSection && report.Detections.Count <= maxEventsPerSection;
            return report.Run.Id == runId && whole ? report : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>The largest report.json the views load whole (about 20,000 events); larger runs are read from the store, cut.</summary>
    private const long MaxWholeReportBytes = 24L << 20;

    private static Task WriteTextAsync(string path, string text, CancellationToken cancellationToken) =>
        PrivateFile.WriteAtomicallyAsync(path, s => s.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).AsTask(), cancellationToken);
}
