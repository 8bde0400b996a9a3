namespace HardenRunner.Browser.Tests;

/// <summary>The dashboard (a real server on loopback) in headless Chromium.</summary>
public sealed class DashboardBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private const string VisibleRuns = "Array.from(document.querySelectorAll('#tbl-runs tbody tr')).filter(r => !r.hidden && r.offsetHeight > 0).length";

    [SkippableFact]
    public async Task RunsList_Loads_FiltersInPage_AndByServer()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(fixture.DashboardBase.AbsoluteUri);
        Assert.Equal(3, await probe.Page.EvaluateExpressionAsync<int>(VisibleRuns));
        await probe.Page.ScreenshotAsync(Path.Combine(fixture.ScreenshotDir, "dashboard-runs.png"));

        await probe.Page.TypeAsync("input[data-for=tbl-runs]", "acme/api");
        Assert.Equal(1, await probe.Page.EvaluateExpressionAsync<int>(VisibleRuns));

        // the server-side filter: choose a repository, apply
        await probe.Page.SelectAsync("select[name=repository]", "acme/web");
        await Task.WhenAll(probe.Page.WaitForNavigationAsync(), probe.Page.ClickAsync("#run-filters button[type=submit]"));
        Assert.Contains("repository=acme%2Fweb", probe.Page.Url, StringComparison.Ordinal);
        Assert.Equal(2, await probe.Page.EvaluateExpressionAsync<int>(VisibleRuns));
        probe.AssertNoErrors();
    }

    [SkippableFact]
    public async Task RunPage_OpensFromTheList_TabsSwitch_BackLinkReturns()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(fixture.DashboardBase.AbsoluteUri);
        await Task.WhenAll(probe.Page.WaitForNavigationAsync(), probe.Page.ClickAsync("a[href='/runs/run-web-2']"));
        Assert.EndsWith("/runs/run-web-2", probe.Page.Url, StringComparison.Ordinal);
        await probe.Page.ScreenshotAsync(Path.Combine(fixture.ScreenshotDir, "dashboard-run.png"));

        await probe.Page.ClickAsync("#tabbtn-network");
        Assert.False(await probe.Page.EvaluateExpressionAsync<bool>("document.getElementById('tab-network').hidden"));
        Assert.True(await probe.Page.EvaluateExpressionAsync<bool>("document.getElementById('tab-summary').hidden"));
        Assert.Equal("exfil.test:443", await probe.Page.EvaluateExpressionAsync<string>(
            "Array.from(document.querySelectorAll('#tab-network ul.dests code')).map(c => c.textContent).find(t => t.startsWith('exfil'))"));

        await Task.WhenAll(probe.Page.WaitForNavigationAsync(), probe.Page.ClickAsync("header a[href='/']"));
        Assert.Equal(3, await probe.Page.EvaluateExpressionAsync<int>(VisibleRuns));
        probe.AssertNoErrors();
        Assert.All(probe.Requests, u => Assert.StartsWith(fixture.DashboardBase.AbsoluteUri, u, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task OrganisationViews_OpenFromTheNav_FilterInPage_WithoutErrors()
    {
        BrowserFixture.SkipUnlessAvailable();
        const string VisibleRows = "Array.from(document.querySelectorAll('#{0} tbody tr')).filter(r => !r.hidden && r.offsetHeight > 0).length";
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(fixture.DashboardBase.AbsoluteUri);
        await Task.WhenAll(probe.Page.WaitForNavigationAsync(), probe.Page.ClickAsync("#views a[href='/destinations']"));
        Assert.EndsWith("/destinations", probe.Page.Url, StringComparison.Ordinal);
        Assert.Equal(5, await probe.Page.EvaluateExpressionAsync<int>(string.Format(System.Globalization.CultureInfo.InvariantCulture, VisibleRows, "tbl-destinations")));
        await probe.Page.ScreenshotAsync(Path.Combine(fixture.ScreenshotDir, "dashboard-destinations.png"));
        await probe.Page.TypeAsync("input[data-for=tbl-destinations]", "exfil");
        Assert.Equal(1, await probe.Page.EvaluateExpressionAsync<int>(string.Format(System.Globalization.CultureInfo.InvariantCulture, VisibleRows, "tbl-destinations")));

        await Task.WhenAll(probe.Page.WaitForNavigationAsync(), probe.Page.ClickAsync("#views a[href='/detections']"));
        Assert.Equal(12, await probe.Page.EvaluateExpressionAsync<int>(string.Format(System.Globalization.CultureInfo.InvariantCulture, VisibleRows, "tbl-detections")));
        await Task.WhenAll(probe.Page.WaitForNavigationAsync(), probe.Page.ClickAsync("#tbl-detections a[href='/runs/run-api-1']"));
        Assert.EndsWith("/runs/run-api-1", probe.Page.Url, StringComparison.Ordinal);
        probe.AssertNoErrors();
        Assert.All(probe.Requests, u => Assert.StartsWith(fixture.DashboardBase.AbsoluteUri, u, StringComparison.Ordinal));
    }
}
