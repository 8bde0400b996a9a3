using HardenRunner.Reporting.Views;
using HardenRunner.Tests.Reporting.Views;

namespace HardenRunner.Browser.Tests;

/// <summary>The HTML report file (report.html as written at stop) opened in headless Chromium.</summary>
public sealed class HtmlReportBrowserTests(BrowserFixture fixture) : IClassFixture<BrowserFixture>
{
    private string Url => new Uri(fixture.ReportPath).AbsoluteUri;

    [SkippableFact]
    public async Task Report_Loads_WithoutConsoleErrors_AndRequestsNothingElse()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(Url);
        Assert.Equal("Summary", await probe.Page.EvaluateExpressionAsync<string>("document.querySelector('nav.tabs button[aria-selected=true]').firstChild.textContent"));
        Assert.Equal("5 of 5 rows", await probe.Page.EvaluateExpressionAsync<string>("document.getElementById('tbl-destinations-count').textContent"));
        probe.AssertNoErrors();
        Assert.Equal([Url], probe.Requests.Distinct());
    }

    [SkippableFact]
    public async Task EveryTab_Switches_AndIsScreenshotted()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(Url);
        foreach (var (id, _) in HtmlReport.Tabs)
        {
            await probe.Page.ClickAsync($"#tabbtn-{id}");
            var visible = await probe.Page.EvaluateExpressionAsync<string[]>("Array.from(document.querySelectorAll('section.tab')).filter(s => !s.hidden && s.offsetHeight > 0).map(s => s.id)");
            Assert.Equal([$"tab-{id}"], visible);
            Assert.Equal("true", await probe.Page.EvaluateExpressionAsync<string>($"document.getElementById('tabbtn-{id}').getAttribute('aria-selected')"));
            Assert.Equal($"#{id}", await probe.Page.EvaluateExpressionAsync<string>("location.hash"));
            var shot = Path.Combine(fixture.ScreenshotDir, $"report-{id}.png");
            await probe.Page.ScreenshotAsync(shot, new PuppeteerSharp.ScreenshotOptions { FullPage = false });
            Assert.True(new FileInfo(shot).Length > 1000);
        }

        probe.AssertNoErrors();
    }

    [SkippableFact]
    public async Task Hash_OpensThatTab()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(Url + "#detections");
        Assert.False(await probe.Page.EvaluateExpressionAsync<bool>("document.getElementById('tab-detections').hidden"));
        Assert.True(await probe.Page.EvaluateExpressionAsync<bool>("document.getElementById('tab-summary').hidden"));
    }

    [SkippableFact]
    public async Task Filter_NarrowsTheTable()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(Url + "#processes");
        const string visibleRows = "Array.from(document.querySelectorAll('#tbl-processes tbody tr')).filter(r => !r.hidden && r.offsetHeight > 0).length";
        Assert.Equal(8, await probe.Page.EvaluateExpressionAsync<int>(visibleRows));
        await probe.Page.TypeAsync("input[data-for=tbl-processes]", "curl");
        Assert.Equal(1, await probe.Page.EvaluateExpressionAsync<int>(visibleRows));
        Assert.Equal("1 of 8 rows", await probe.Page.EvaluateExpressionAsync<string>("document.getElementById('tbl-processes-count').textContent"));

        // two words: both must be in the row
        await probe.Page.EvaluateExpressionAsync("document.querySelector('input[data-for=tbl-processes]').value = ''");
        await probe.Page.TypeAsync("input[data-for=tbl-processes]", "bash run_2");
        Assert.Equal(1, await probe.Page.EvaluateExpressionAsync<int>(visibleRows));
        probe.AssertNoErrors();
    }

    [SkippableFact]
    public async Task ClickingAHeader_SortsTheTable()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(Url + "#processes");
        const string pids = "Array.from(document.querySelectorAll('#tbl-processes tbody tr')).map(r => +r.cells[1].textContent)";
        await probe.Page.ClickAsync("#tbl-processes th:nth-child(2)");
        var ascending = await probe.Page.EvaluateExpressionAsync<int[]>(pids);
        Assert.Equal(ascending.Order(), ascending);
        await probe.Page.ClickAsync("#tbl-processes th:nth-child(2)");
        var descending = await probe.Page.EvaluateExpressionAsync<int[]>(pids);
        Assert.Equal(ascending.Reverse(), descending);
        Assert.Equal("descending", await probe.Page.EvaluateExpressionAsync<string>("document.querySelector('#tbl-processes th:nth-child(2)').getAttribute('aria-sort')"));
    }

    [SkippableFact]
    public async Task ScriptInARecordedPath_IsInert_AndShownAsText()
    {
        BrowserFixture.SkipUnlessAvailable();
        await using var probe = await fixture.NewPageAsync();
        await probe.Page.GoToAsync(Url);
        foreach (var (id, _) in HtmlReport.Tabs)
        {
            await probe.Page.ClickAsync($"#tabbtn-{id}");
        }

        await probe.Page.ClickAsync("#tabbtn-files");
        await probe.Page.TypeAsync("input[data-for=tbl-files]", "pwned");
        Assert.Equal("undefined", await probe.Page.EvaluateExpressionAsync<string>("typeof window.__pwned"));
        Assert.Equal(1, await probe.Page.EvaluateExpressionAsync<int>("document.scripts.length"));
        Assert.Equal(0, await probe.Page.EvaluateExpressionAsync<int>("document.querySelectorAll('img').length"));
        Assert.Equal(0, await probe.Page.EvaluateExpressionAsync<int>("Array.from(document.querySelectorAll('b')).filter(b => b.textContent === 'x').length"));
        var shownPaths = await probe.Page.EvaluateExpressionAsync<string[]>("Array.from(document.querySelectorAll('#tbl-files tbody tr')).filter(r => !r.hidden).map(r => r.cells[2].textContent)");
        Assert.Equal([ViewSampleRun.HostilePath], shownPaths);
        Assert.Contains(ViewSampleRun.HostileCmdline, await probe.Page.EvaluateExpressionAsync<string>("document.getElementById('tbl-processes').textContent"), StringComparison.Ordinal);
        Assert.Contains(ViewSampleRun.HostileHost, await probe.Page.EvaluateExpressionAsync<string>("document.getElementById('tbl-destinations').textContent"), StringComparison.Ordinal);
        probe.AssertNoErrors();
    }
}
