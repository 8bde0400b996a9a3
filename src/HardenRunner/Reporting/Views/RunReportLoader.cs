using System.Text.Json;
using HardenRunner.Store;

namespace HardenRunner.Reporting.Views;

/// <summary>
/// The one place the views get a run from: the JSON report (<see cref="JsonReportBuilder"/>) of the run, read back.
/// Every view (Markdown, HTML, SARIF, dashboard) renders this, so the recommended policy and token permissions shown
/// are exactly the JSON report's <c>recommendedPolicy</c> and <c>tokenPermissions</c>, whichever recommender fills them.
/// </summary>
public static class RunReportLoader
{
    /// <summary>
    /// The most events of each list a view is rendered from: a run of a million DNS queries must not take gigabytes to
    /// render (or a browser to open); its views say which lists were cut (<see cref="RunReport.Truncation"/>).
    /// </summary>
    public const int ViewLimit = 20_000;

    /// <summary>
    /// Renders the JSON report of <paramref name="run"/> from <paramref name="store"/>, each event list cut to its
    /// first <paramref name="maxEventsPerSection"/>, and reads it back.
    /// </summary>
    public static async Task<RunReport> LoadAsync(IEventStore store, RunInfo run, CancellationToken cancellationToken = default, int maxEventsPerSection = ViewLimit)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(run);
        using var buffer = new MemoryStream();
        await JsonReportBuilder.WriteAsync(store, run, buffer, cancellationToken, maxEventsPerSection: maxEventsPerSection).ConfigureAwait(false);
        buffer.Position = 0;
        var report = await ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (report.Network.Count < maxEventsPerSection && report.Files.Count < maxEventsPerSection
            && report.Processes.Count < maxEventsPerSection && report.Detections.Count < maxEventsPerSection)
        {
            return report;
        }

        var truncation = new ReportTruncation(
            maxEventsPerSection,
            await store.CountEventsAsync(run.Id, EventKind.Network, cancellationToken).ConfigureAwait(false),
            await store.CountEventsAsync(run.Id, EventKind.File, cancellationToken).ConfigureAwait(false),
            await store.CountEventsAsync(run.Id, EventKind.Process, cancellationToken).ConfigureAwait(false),
            await store.CountEventsAsync(run.Id, EventKind.Detection, cancellationToken).ConfigureAwait(false));
        if (truncation.Describe().Length > 0)
        {
            report.Truncation = truncation;
        }

        return report;
    }

    /// <summary>Reads a JSON report (as <c>harden-runner report --format json</c> writes it). Throws <see cref="InvalidDataException"/> when it is not one.</summary>
    public static async Task<RunReport> ReadAsync(Stream json, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            var report = await JsonSerializer.DeserializeAsync(json, ReportModelJsonContext.Default.RunReport, cancellationToken).ConfigureAwait(false);
            return report ?? throw new InvalidDataException("the JSON report is null");
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"not a HardenRunner JSON report: {ex.Message}", ex);
        }
    }

    /// <summary>The run's recommended policy (YAML), or null when the report has none.</summary>
    public static string? RecommendedPolicy(RunReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        return string.IsNullOrWhiteSpace(report.RecommendedPolicy) ? null : report.RecommendedPolicy;
    }
}
