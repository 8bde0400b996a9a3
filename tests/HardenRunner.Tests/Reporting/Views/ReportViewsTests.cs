using HardenRunner.Reporting.Views;

namespace HardenRunner.Tests.Reporting.Views;

/// <summary>The files written at stop and what <c>stop</c> prints after the summary.</summary>
public sealed class ReportViewsTests(ViewFixture fixture) : IClassFixture<ViewFixture>
{
    [Fact]
    public async Task StopReports_WriteHtmlAndSummary_Private()
    {
        var env = new Dictionary<string, string> { [ReportLinks.DashboardUrlVariable] = "http://127.0.0.1:7787" };
        var summary = await ReportViews.WriteStopReportsAsync(fixture.Store, fixture.Run.Id, fixture.StateDir, n => env.GetValueOrDefault(n));
        var html = Path.Combine(fixture.StateDir, ReportViews.HtmlFileName);
        var md = Path.Combine(fixture.StateDir, ReportViews.SummaryFileName);
        Assert.Equal(summary, await File.ReadAllTextAsync(md));
        Assert.Contains("<!DOCTYPE html>", await File.ReadAllTextAsync(html), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(html));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(md));
        Assert.Contains($"at\\: {html} and http\\://127.0.0.1\\:7787/runs/run-sample", summary, StringComparison.Ordinal);

        var notices = await ReportViews.StopNoticesAsync(fixture.StateDir, n => n == "GITHUB_ACTIONS" ? "true" : null);
        Assert.Equal(5, notices.Count);
        Assert.StartsWith("::error title=HardenRunner reverse-shell", notices[0], StringComparison.Ordinal);
        Assert.Equal($"View security insights and recommended policy at: {html}", notices[^1]);

        var outsideActions = await ReportViews.StopNoticesAsync(fixture.StateDir, _ => null);
        Assert.Equal([$"View security insights and recommended policy at: {html}"], outsideActions);
    }

    [Fact]
    public async Task StopNotices_NoStore_Nothing()
    {
        var empty = Directory.CreateTempSubdirectory("hr-views-").FullName;
        try
        {
            Assert.Empty(await ReportViews.StopNoticesAsync(empty, _ => "true"));
        }
        finally
        {
            Directory.Delete(empty, true);
        }
    }
}

/// <summary>At stop the views read the report.json written just before (when it is this run's), else render from the store.</summary>
public sealed class StopReportsSourceTests(ViewFixture fixture) : IClassFixture<ViewFixture>
{
    [Fact]
    public async Task ThisRunsReportJson_IsUsed_AnotherRunsIsNot()
    {
        var json = Path.Combine(fixture.StateDir, HardenRunner.Reporting.RunReportFile.JsonFileName);
        await HardenRunner.Reporting.RunReportFile.WriteJsonAsync(fixture.Store, fixture.Run.Id, fixture.StateDir);

        // mark the file: what the views show must come from it
        var node = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(json))!;
        node["recommendedPolicy"] = "egress-policy: block\n# from report.json\n";
        await File.WriteAllTextAsync(json, node.ToJsonString());
        Assert.Contains("# from report.json", await ReportViews.WriteStopReportsAsync(fixture.Store, fixture.Run.Id, fixture.StateDir, _ => null), StringComparison.Ordinal);

        // a report.json of another run is not used
        node["run"]!["id"] = "another-run";
        await File.WriteAllTextAsync(json, node.ToJsonString());
        var summary = await ReportViews.WriteStopReportsAsync(fixture.Store, fixture.Run.Id, fixture.StateDir, _ => null);
        Assert.DoesNotContain("# from report.json", summary, StringComparison.Ordinal);
        Assert.Contains(fixture.Report.RecommendedPolicy!, summary, StringComparison.Ordinal);

        // nor a broken one
        await File.WriteAllTextAsync(json, "{ not json");
        Assert.Contains(fixture.Report.RecommendedPolicy!, await ReportViews.WriteStopReportsAsync(fixture.Store, fixture.Run.Id, fixture.StateDir, _ => null), StringComparison.Ordinal);
    }
}
