using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using HardenRunner.Reporting.Views;

namespace HardenRunner.Tests.Reporting.Views;

/// <summary>The HTML report as text (the browser tests check it in Chromium).</summary>
public sealed partial class HtmlReportTests(ViewFixture fixture) : IClassFixture<ViewFixture>
{
    private string Html => HtmlReport.Render(fixture.Report);

    [Fact]
    public void HasEveryTab_AndItsPanel()
    {
        var html = Html;
        foreach (var (id, title) in HtmlReport.Tabs)
        {
            Assert.Contains($"data-tab=\"{id}\"", html, StringComparison.Ordinal);
            Assert.Contains($"id=\"tab-{id}\"", html, StringComparison.Ordinal);
            Assert.Contains(HtmlReport.Encode(title), html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void IsSelfContained_NoExternalResource()
    {
        var html = Html;
        Assert.DoesNotMatch(ExternalReference(), html);
        Assert.Single(ScriptTag().Matches(html));
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void ContentSecurityPolicy_AllowsOnlyTheInlineStyleAndScript_ByHash()
    {
        var html = Html;
        var style = Between(html, "<style>", "</style>");
        var script = Between(html, "<script>", "</script>");
        var csp = HtmlAssets.ContentSecurityPolicy;
        Assert.Contains($"script-src 'sha256-{Sha256(script)}'", csp, StringComparison.Ordinal);
        Assert.Contains($"style-src 'sha256-{Sha256(style)}'", csp, StringComparison.Ordinal);
        Assert.StartsWith("default-src 'none';", csp, StringComparison.Ordinal);
        Assert.Contains("<meta http-equiv=\"Content-Security-Policy\" content=\"" + HtmlReport.Encode(csp) + "\">", html, StringComparison.Ordinal);
    }

    [Fact]
    public void RecordedMarkup_IsEscaped()
    {
        var html = Html;
        Assert.DoesNotContain("<script>window.__pwned", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<img src=x", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>x</b>", html, StringComparison.Ordinal);
        Assert.Contains(HtmlReport.Encode(ViewSampleRun.HostilePath), html, StringComparison.Ordinal);
        Assert.Contains(HtmlReport.Encode(ViewSampleRun.HostileCmdline), html, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;", html, StringComparison.Ordinal);
    }

    [Fact]
    public void SecretsInCommandLines_StayRedacted()
    {
        var html = Html;
        Assert.DoesNotContain("eC1hY2Nlc3MtdG9rZW46", html, StringComparison.Ordinal);
        Assert.Contains("[REDACTED]", html, StringComparison.Ordinal);
    }

    [Fact]
    public void NetworkTab_PutsEachDestinationUnderTheProcessThatCalledIt()
    {
        var trees = ReportDigest.NetworkTrees(fixture.Report);
        Assert.Equal(["__run", "__run_2", "actions/checkout (actions_checkout)"], trees.Select(t => t.Step));
        var build = trees.Single(t => t.Step == "__run_2");
        var worker = Assert.Single(build.Roots);
        Assert.Equal("Runner.Worker", ReportDigest.ExeName(worker.Exe));
        var bash = Assert.Single(worker.Children);
        Assert.Equal(3000, bash.Pid);
        Assert.Empty(bash.Destinations);
        var curl = bash.Children.Single(c => c.Pid == 3100);
        Assert.Equal(("exfil.test", 443, DestinationStatus.Blocked), (curl.Destinations.Single().Destination, curl.Destinations.Single().Port, curl.Destinations.Single().Status));
        var sh = bash.Children.Single(c => c.Pid == 3200);
        Assert.Equal("203.0.113.7", sh.Destinations.Single().Destination);

        var checkout = trees.Single(t => t.Step.StartsWith("actions/checkout", StringComparison.Ordinal));
        var remote = checkout.Roots.Single().Children.Single().Children.Single().Children.Single();
        Assert.Equal(1510, remote.Pid);
        Assert.Equal(2, remote.Destinations.Single().Requests);
    }

    [Fact]
    public void RecommendedPolicyTab_ShowsTheJsonReportsPolicy_AndNoPermissions()
    {
        var html = Html;
        Assert.Contains("<pre class=\"yaml\" id=\"policy-yaml\">" + HtmlReport.Encode(fixture.Report.RecommendedPolicy), html, StringComparison.Ordinal);
        Assert.Contains("No use of the job's GITHUB_TOKEN was observed.", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Tables_AreCut_AtMaxRows_WithANote()
    {
        var html = HtmlReport.Render(fixture.Report, new HtmlReportOptions { MaxRows = 2 });
        Assert.Contains("Showing the first 2 of 8 rows of <code>tbl-processes</code>", html, StringComparison.Ordinal);
        var body = Between(html, "<table class=\"data\" id=\"tbl-processes\">", "</table>");
        Assert.Equal(2, Regex.Count(body, "<tr><td"));
    }

    [Fact]
    public void DashboardBackLink_IsShownWhenAsked()
    {
        Assert.DoesNotContain("all runs", Html, StringComparison.Ordinal);
        Assert.Contains("<a href=\"/\">← all runs</a>", HtmlReport.Render(fixture.Report, new HtmlReportOptions { BackLink = "/" }), StringComparison.Ordinal);
    }

    private static string Between(string s, string start, string end)
    {
        var i = s.IndexOf(start, StringComparison.Ordinal) + start.Length;
        return s[i..s.IndexOf(end, i, StringComparison.Ordinal)];
    }

    private static string Sha256(string s) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(s)));

    [GeneratedRegex("(src|href)\\s*=\\s*\"(https?:|//)|url\\(", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();

    [GeneratedRegex("<script", RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();
}
