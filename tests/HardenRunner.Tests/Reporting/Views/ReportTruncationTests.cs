using System.Text.Json;
using HardenRunner.Reporting;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Reporting.Views;

/// <summary>
/// A very large run: the views (summary, HTML, dashboard) are rendered from the first events of each list and say so;
/// report.json keeps every event.
/// </summary>
public sealed class ReportTruncationTests
{
    private static async Task<(StoreFixture Store, RunInfo Run)> RunWith(int network, int files)
    {
        var store = StoreFixture.Create();
        var run = SampleEvents.Run("big");
        await store.Store.BeginRunAsync(run);
        await store.Store.AppendAsync(run.Id, [.. Enumerable.Range(0, network).Select(i => SampleEvents.Https(i)), .. Enumerable.Range(0, files).Select(SampleEvents.FileWrite)]);
        await store.Store.EndRunAsync(run.Id, SampleEvents.T0.AddHours(1), 0);
        return (store, (await store.Store.GetRunAsync(run.Id))!);
    }

    [Fact]
    public async Task ViewsOfALargeRun_AreCut_AndSaySo_ReportJsonHasEveryEvent()
    {
        var (store, run) = await RunWith(network: 25, files: 3);
        await using var _ = store;

        var report = await RunReportLoader.LoadAsync(store.Store, run, maxEventsPerSection: 10);
        Assert.Equal(10, report.Network.Count);
        Assert.Equal(3, report.Files.Count);
        Assert.Equal(new ReportTruncation(10, 25, 3, 0, 0), report.Truncation);
        Assert.Equal("the first 10 of 25 network events", report.Truncation!.Describe());

        Assert.Contains("**A very large run**: this summary is built from the first 10 of 25 network events;", MarkdownSummary.Render(report), StringComparison.Ordinal);
        Assert.Contains("<strong>A very large run</strong>: this page shows the first 10 of 25 network events;", HtmlReport.Render(report), StringComparison.Ordinal);

        var summary = await ReportViews.WriteStopReportsAsync(store.Store, run.Id, store.StateDir, _ => null, maxEventsPerSection: 10);
        Assert.Contains("the first 10 of 25 network events", summary, StringComparison.Ordinal);
        Assert.Contains("the first 10 of 25 network events", await File.ReadAllTextAsync(Path.Combine(store.StateDir, ReportViews.HtmlFileName)), StringComparison.Ordinal);

        // the JSON report is complete
        using var json = JsonDocument.Parse(await JsonReportBuilder.BuildAsync(store.Store, run));
        Assert.Equal(25, json.RootElement.GetProperty("network").GetArrayLength());
        Assert.False(json.RootElement.TryGetProperty("truncation", out var _), "the cut is a property of the views, not of report.json");
    }

    [Fact]
    public async Task ViewsOfARunWithinTheLimit_AreWhole_AndSayNothing()
    {
        var (store, run) = await RunWith(network: 10, files: 10);
        await using var _ = store;

        var report = await RunReportLoader.LoadAsync(store.Store, run, maxEventsPerSection: 10);
        Assert.Null(report.Truncation);
        Assert.Equal(10, report.Network.Count);
        Assert.DoesNotContain("very large run", MarkdownSummary.Render(report), StringComparison.Ordinal);
        Assert.DoesNotContain("very large run", HtmlReport.Render(report), StringComparison.Ordinal);
        Assert.Equal(RunReportLoader.ViewLimit, 20_000);
    }
}
