using System.Text.Json.Nodes;
using HardenRunner.Reporting.Views;

namespace HardenRunner.Tests.Reporting.Views;

public sealed class MarkdownSummaryTests(ViewFixture fixture) : IClassFixture<ViewFixture>
{
    [Fact]
    public void Summary_HasModeCountsAndSections()
    {
        var md = MarkdownSummary.Render(fixture.Report);
        Assert.StartsWith("## HardenRunner: block mode\n", md, StringComparison.Ordinal);
        Assert.Contains("acme/web · ci · build · workflow run 7412", md, StringComparison.Ordinal);

        // mode, network events, blocked, denied (audit), destinations, DNS, HTTP(S), files (tracked), processes, detections
        Assert.Contains("| block | 10 | 4 | 0 | 5 | 3 | 6 | 4 (3) | 8 | 4 |", md, StringComparison.Ordinal);
        foreach (var heading in new[] { "### Outbound destinations", "### Detections (4)", "### Recommended policy", "### Recommended GITHUB_TOKEN permissions" })
        {
            Assert.Contains(heading, md, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Destinations_BlockedFirst_WithProcessesAndSteps()
    {
        var md = MarkdownSummary.Render(fixture.Report);
        var rows = md.Split('\n').SkipWhile(l => !l.StartsWith("| host | port |", StringComparison.Ordinal)).Skip(2).TakeWhile(l => l.StartsWith('|')).ToList();
        Assert.Equal(5, rows.Count);
        Assert.All(rows.Take(3), r => Assert.Contains("**blocked**", r, StringComparison.Ordinal));
        Assert.All(rows.Skip(3), r => Assert.Contains("| allowed |", r, StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("| exfil.test | 443 | **blocked** | 1 | curl | \\_\\_run\\_2 |", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("| github.com | 443 | allowed | 2 | git-remote-https | actions/checkout \\(actions\\_checkout\\) |", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.StartsWith("| 203.0.113.7 | 4444 | **blocked** | 1 | sh |", StringComparison.Ordinal));

        // the DNS queries of names the run connected to are not destinations of their own
        Assert.DoesNotContain(rows, r => r.Contains("| 53 |", StringComparison.Ordinal));
    }

    [Fact]
    public void HostileStrings_CannotBreakTheTable_OrInjectHtml()
    {
        var md = MarkdownSummary.Render(fixture.Report);
        Assert.DoesNotContain("<b>", md, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", md, StringComparison.Ordinal);
        var row = md.Split('\n').Single(l => l.Contains("inject.test", StringComparison.Ordinal));
        Assert.StartsWith("| evil-&lt;b&gt;x&lt;/b&gt;\\|inject.test | 443 | **blocked** |", row, StringComparison.Ordinal);

        // an unescaped | would add a cell: every row of the table has the header's 7 separators
        Assert.Equal(7, row.Replace("\\|", "", StringComparison.Ordinal).Count(c => c == '|'));
    }

    [Fact]
    public void Detections_CriticalFirst()
    {
        var md = MarkdownSummary.Render(fixture.Report);
        var rows = md.Split('\n').SkipWhile(l => !l.StartsWith("| severity |", StringComparison.Ordinal)).Skip(2).TakeWhile(l => l.StartsWith('|')).ToList();
        Assert.Equal(["critical", "high", "medium", "low"], rows.Select(r => r.Split('|')[1].Trim()));
        Assert.Contains("reverse-shell", rows[0], StringComparison.Ordinal);
    }

    [Fact]
    public void RecommendedPolicy_IsTheJsonReportsYaml_InAFence()
    {
        var md = MarkdownSummary.Render(fixture.Report);
        var policy = fixture.Report.RecommendedPolicy!;
        Assert.Contains("```yaml\n" + policy + "```\n", md, StringComparison.Ordinal);
        Assert.Contains("registry.npmjs.org:443", policy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RecommendedPolicy_WithBackticks_CannotCloseTheFence()
    {
        var report = await fixture.EditedAsync(j => j["recommendedPolicy"] = "egress-policy: block\n# ```\n# ````\n");
        var md = MarkdownSummary.Render(report);
        Assert.Contains("`````yaml\negress-policy: block\n# ```\n# ````\n`````\n", md, StringComparison.Ordinal);
    }

    [Fact]
    public void NoTokenPermissions_SaysNoneObserved()
    {
        Assert.Contains("No use of the job's GITHUB_TOKEN was observed.", MarkdownSummary.Render(fixture.Report), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenPermissions_AreAPermissionsBlock()
    {
        var report = await fixture.EditedAsync(j => j["tokenPermissions"] = new JsonObject { ["issues"] = "write", ["contents"] = "read" });
        Assert.Contains("```yaml\npermissions:\n  contents: read\n  issues: write\n```", MarkdownSummary.Render(report), StringComparison.Ordinal);
    }

    [Fact]
    public void InsightsLine_NamesTheHtmlReportAndTheDashboard()
    {
        var links = new ReportLinks("/var/lib/harden-runner/report.html", ReportLinks.DashboardRunUrl("http://127.0.0.1:7787/", "run-sample"));
        Assert.Equal("View security insights and recommended policy at: /var/lib/harden-runner/report.html and http://127.0.0.1:7787/runs/run-sample", links.InsightsLine());
        Assert.Contains("View security insights and recommended policy at\\: /var/lib/harden-runner/report.html", MarkdownSummary.Render(fixture.Report, links), StringComparison.Ordinal);
        Assert.Null(ReportLinks.None.InsightsLine());
    }

    [Fact]
    public void EventsLost_AreSaid()
    {
        Assert.Contains("**3 event(s) could not be recorded**", MarkdownSummary.Render(fixture.Report, null, 3), StringComparison.Ordinal);
        Assert.DoesNotContain("could not be recorded", MarkdownSummary.Render(fixture.Report), StringComparison.Ordinal);
    }
}

public sealed class ReportDigestTests
{
    [Fact]
    public async Task DnsOnlyNames_AreDestinations_OnPort53()
    {
        await using var store = StoreFixture.Create();
        var run = new HardenRunner.Store.RunInfo("dns-only", ViewSampleRun.T0, HardenRunner.Policy.Model.EgressMode.Block);
        await store.Store.BeginRunAsync(run);
        await store.Store.AppendAsync("dns-only",
        [
            new HardenRunner.Events.NetworkEvent(ViewSampleRun.T0, "dns", "aGVsbG8.exfil.test", null, 53, HardenRunner.Policy.Model.Decision.Deny, HardenRunner.Events.NetworkEvent.Blocked, "not allowed", QueryType: "TXT"),
            new HardenRunner.Events.NetworkEvent(ViewSampleRun.T0, "dns", "github.com", null, 53, HardenRunner.Policy.Model.Decision.Allow, HardenRunner.Events.NetworkEvent.Passed, "allowed", QueryType: "A"),
        ]);
        var report = await RunReportLoader.LoadAsync(store.Store, run);
        var rows = ReportDigest.Destinations(report.Network);
        Assert.Equal([("aGVsbG8.exfil.test", 53, DestinationStatus.Blocked), ("github.com", 53, DestinationStatus.Allowed)], rows.Select(r => (r.Destination, r.Port, r.Status)));
        var tree = Assert.Single(ReportDigest.NetworkTrees(report));
        Assert.Equal("(unknown process)", Assert.Single(tree.Roots).Exe);
    }
}
