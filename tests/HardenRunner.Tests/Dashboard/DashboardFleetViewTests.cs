using System.Net;
using System.Text.Json.Nodes;
using HardenRunner.Reporting.Views;

namespace HardenRunner.Tests.Dashboard;

/// <summary>The fleet parts of the dashboard over the real loopback server of <see cref="DashboardFixture"/>: runner column and filter, destinations and detections across runs.</summary>
public sealed class DashboardFleetViewTests(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    [Theory]
    [InlineData("/api/runs?runner=runner-a", new[] { "run-api-1", "run-web-1" })]
    [InlineData("/api/runs?runner=runner-b", new[] { "run-web-2" })]
    [InlineData("/api/runs?runner=runner-a&repository=acme/web", new[] { "run-web-1" })]
    [InlineData("/api/runs?runner=runner-z", new string[0])]
    public async Task ApiRuns_FilterByRunner_AndShowIt(string path, string[] expected)
    {
        var runs = (await GetJsonAsync(path)).AsArray();
        Assert.Equal(expected, runs.Select(r => (string)r!["id"]!));
        Assert.All(runs, r => Assert.StartsWith("runner-", (string?)r!["runner"], StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunsPage_HasRunnerColumn_AndFilter()
    {
        var html = await fixture.Http.GetStringAsync(new Uri(fixture.Base, "/?runner=runner-b"));
        Assert.Contains("<th data-type=\"text\">runner</th>", html, StringComparison.Ordinal);
        Assert.Contains("<td>runner-b</td>", html, StringComparison.Ordinal);
        Assert.Contains("<option value=\"runner-b\" selected>", html, StringComparison.Ordinal);
        Assert.Contains("/runs/run-web-2", html, StringComparison.Ordinal);
        Assert.DoesNotContain("/runs/run-web-1", html, StringComparison.Ordinal);
        Assert.Contains("<a href=\"/destinations\">destinations</a>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiDestinations_ListEveryDestination_WithTheJobsThatUseIt()
    {
        var doc = await GetJsonAsync("/api/destinations");
        Assert.Equal(3, (int)doc["runs"]!);
        var list = doc["destinations"]!.AsArray();
        Assert.Equal(
            new[] { "203.0.113.7:4444", "evil-<b>x</b>|inject.test:443", "exfil.test:443", "github.com:443", "registry.npmjs.org:443" },
            list.Select(d => (string)d!["destination"]!).Order(StringComparer.Ordinal));
        var github = list.Single(d => (string?)d!["destination"] == "github.com:443")!;
        Assert.Equal(3, (int)github["runs"]!);
        Assert.Equal(6, (int)github["passed"]!); // two requests in each of the three runs
        Assert.Equal(
            new[] { "acme/api/release/publish", "acme/web/ci/build" },
            github["jobs"]!.AsArray().Select(j => $"{j!["repository"]}/{j["workflow"]}/{j["job"]}"));
        Assert.Equal(["runner-a", "runner-b"], github["runners"]!.AsArray().Select(r => (string)r!));
        var exfil = list.Single(d => (string?)d!["destination"] == "exfil.test:443")!;
        Assert.Equal(2, (int)exfil["blocked"]!); // the two block-mode runs
        Assert.Equal(1, (int)exfil["passed"]!); // the audit run

        var one = await GetJsonAsync("/api/destinations?repository=acme/api");
        Assert.Equal(1, (int)one["runs"]!);
        Assert.All(one["destinations"]!.AsArray(), d => Assert.Equal("acme/api", (string?)d!["jobs"]![0]!["repository"]));
    }

    [Fact]
    public async Task ApiDetections_ListEveryDetection_WithItsRun()
    {
        var doc = await GetJsonAsync("/api/detections");
        var list = doc["detections"]!.AsArray();
        Assert.Equal(12, list.Count); // four in each of the three runs
        Assert.Equal(3, list.Count(d => (string?)d!["type"] == "reverse-shell"));
        Assert.Equal(["run-api-1", "run-web-1", "run-web-2"], list.Select(d => (string)d!["runId"]!).Distinct().Order(StringComparer.Ordinal));
        var filtered = (await GetJsonAsync("/api/detections?runner=runner-b"))["detections"]!.AsArray();
        Assert.Equal(4, filtered.Count);
        Assert.All(filtered, d => Assert.Equal("run-web-2", (string?)d!["runId"]));
    }

    [Fact]
    public async Task OrganisationPages_AreEncodedHtml_WithTheSameSecurityHeaders()
    {
        using var response = await fixture.Http.GetAsync(new Uri(fixture.Base, "/destinations"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HtmlAssets.ContentSecurityPolicyHeader, response.Headers.GetValues("Content-Security-Policy").Single());
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<code>github.com:443</code>", html, StringComparison.Ordinal);
        Assert.Contains("acme/api &#xB7; release &#xB7; publish", html, StringComparison.Ordinal);
        Assert.DoesNotContain("evil-<b>", html, StringComparison.Ordinal);

        var detections = await fixture.Http.GetStringAsync(new Uri(fixture.Base, "/detections?repository=acme%2Fapi"));
        Assert.Contains("<code>reverse-shell</code>", detections, StringComparison.Ordinal);
        Assert.Contains("<a href=\"/runs/run-api-1\">", detections, StringComparison.Ordinal);
        Assert.DoesNotContain("/runs/run-web-1", detections, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>window.__pwned", detections, StringComparison.Ordinal);
    }

    private async Task<JsonNode> GetJsonAsync(string path)
    {
        using var response = await fixture.Http.GetAsync(new Uri(fixture.Base, path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }
}
