using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using HardenRunner.Dashboard;
using HardenRunner.Policy.Model;
using HardenRunner.Reporting.Views;
using HardenRunner.Tests.Reporting;
using HardenRunner.Tests.Reporting.Views;

namespace HardenRunner.Tests.Dashboard;

/// <summary>A real dashboard on a loopback port over a real SQLite store with three recorded runs.</summary>
public sealed class DashboardFixture : IAsyncLifetime
{
    private StoreFixture _store = null!;

    public DashboardServer Server { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public Uri Base { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _store = StoreFixture.Create();
        await ViewSampleRun.RecordAsync(_store.Store, "run-web-1", EgressMode.Audit, ViewSampleRun.T0, hostName: "runner-a");
        await ViewSampleRun.RecordAsync(_store.Store, "run-web-2", EgressMode.Block, ViewSampleRun.T0.AddHours(1), hostName: "runner-b");
        await ViewSampleRun.RecordAsync(_store.Store, "run-api-1", EgressMode.Block, ViewSampleRun.T0.AddHours(2), repository: "acme/api", workflow: "release", job: "publish", hostName: "runner-a");
        Server = await DashboardServer.StartAsync(_store.Store, new DashboardOptions { Urls = ["http://127.0.0.1:0"] });
        Base = new Uri(Assert.Single(Server.Urls));
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        await _store.DisposeAsync();
    }
}

public sealed class DashboardServerTests(DashboardFixture fixture) : IClassFixture<DashboardFixture>
{
    [Fact]
    public void ListensOnLoopback()
    {
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(fixture.Base.Host)));
        Assert.NotEqual(0, fixture.Base.Port);
    }

    [Fact]
    public async Task ApiRuns_ListsRunsNewestFirst_WithCounts()
    {
        var runs = await GetJsonAsync("/api/runs");
        Assert.Equal(["run-api-1", "run-web-2", "run-web-1"], runs.AsArray().Select(r => (string)r!["id"]!));
        var web1 = runs.AsArray().Single(r => (string?)r!["id"] == "run-web-1")!;
        Assert.Equal("audit", (string?)web1["egressPolicy"]);
        Assert.Equal(0, (int)web1["blocked"]!); // audit mode: denied but passed
        Assert.Equal(4, (int)web1["detections"]!);
        Assert.Equal("acme/web", (string?)web1["repository"]);
        Assert.Equal(4, (int)runs[0]!["blocked"]!);
    }

    [Theory]
    [InlineData("/api/runs?repository=acme/api", new[] { "run-api-1" })]
    [InlineData("/api/runs?workflow=ci&job=build", new[] { "run-web-2", "run-web-1" })]
    [InlineData("/api/runs?mode=audit", new[] { "run-web-1" })]
    [InlineData("/api/runs?limit=1", new[] { "run-api-1" })]
    [InlineData("/api/runs?repository=nobody/none", new string[0])]
    public async Task ApiRuns_Filters(string path, string[] expected)
    {
        var runs = await GetJsonAsync(path);
        Assert.Equal(expected, runs.AsArray().Select(r => (string)r!["id"]!));
    }

    [Fact]
    public async Task ApiRun_IsTheJsonReport()
    {
        var text = await fixture.Http.GetStringAsync(new Uri(fixture.Base, "/api/runs/run-web-2"));
        ReportSchema.AssertValid(text);
        Assert.Equal("run-web-2", (string?)JsonNode.Parse(text)!["run"]!["id"]);
    }

    [Theory]
    [InlineData("network", 10)]
    [InlineData("file", 4)]
    [InlineData("process", 8)]
    [InlineData("detection", 4)]
    public async Task ApiEvents_ByKind(string kind, int count)
    {
        var events = await GetJsonAsync($"/api/runs/run-web-1/events?kind={kind}");
        Assert.Equal(count, events.AsArray().Count);
    }

    [Fact]
    public async Task ApiErrors_Are404And400_AsJson()
    {
        using var missing = await fixture.Http.GetAsync(new Uri(fixture.Base, "/api/runs/nope"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("no run 'nope'", (string?)JsonNode.Parse(await missing.Content.ReadAsStringAsync())!["error"]);
        using var badKind = await fixture.Http.GetAsync(new Uri(fixture.Base, "/api/runs/run-web-1/events?kind=secrets"));
        Assert.Equal(HttpStatusCode.BadRequest, badKind.StatusCode);
    }

    [Fact]
    public async Task RunsPage_ListsRuns_WithLinks_AndFilters()
    {
        using var response = await fixture.Http.GetAsync(fixture.Base);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HtmlAssets.ContentSecurityPolicyHeader, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        var html = await response.Content.ReadAsStringAsync();
        foreach (var id in new[] { "run-web-1", "run-web-2", "run-api-1" })
        {
            Assert.Contains($"<a href=\"/runs/{id}\">", html, StringComparison.Ordinal);
        }

        Assert.Contains("<option value=\"acme/api\">acme/api</option>", html, StringComparison.Ordinal);
        var filtered = await fixture.Http.GetStringAsync(new Uri(fixture.Base, "/?repository=acme%2Fapi"));
        Assert.Contains("/runs/run-api-1", filtered, StringComparison.Ordinal);
        Assert.DoesNotContain("/runs/run-web-1", filtered, StringComparison.Ordinal);
        Assert.Contains("<option value=\"acme/api\" selected>", filtered, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunPage_IsTheHtmlReport_WithABackLink()
    {
        var html = await fixture.Http.GetStringAsync(new Uri(fixture.Base, "/runs/run-web-2"));
        Assert.Contains("<a href=\"/\">← all runs</a>", html, StringComparison.Ordinal);
        Assert.Contains("id=\"tab-network\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>window.__pwned", html, StringComparison.Ordinal);
        using var missing = await fixture.Http.GetAsync(new Uri(fixture.Base, "/runs/%3Cscript%3E"));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("no run &#x27;&lt;script&gt;&#x27;", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("attacker.example")]
    [InlineData("localhost.attacker.example:80")]
    public async Task ForeignHostHeader_IsRefused_AgainstDnsRebinding(string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Base, "/api/runs"));
        request.Headers.Host = host;
        using var response = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.MisdirectedRequest, response.StatusCode);
    }

    [Fact]
    public async Task LocalhostHostHeader_IsAccepted()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Base, "/api/runs"));
        request.Headers.Host = $"localhost:{fixture.Base.Port}";
        using var response = await fixture.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Writes_AreRefused()
    {
        using var content = new StringContent("{}", new MediaTypeHeaderValue("application/json"));
        using var response = await fixture.Http.PostAsync(new Uri(fixture.Base, "/api/runs"), content);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    [Theory]
    [InlineData("http://127.0.0.1:7787", null)]
    [InlineData("http://[::1]:0;http://localhost:8080", null)]
    [InlineData("https://127.0.0.1:7787", "not an http://ADDRESS:PORT URL")]
    [InlineData("http://dashboard.example:7787", "must be an IP address or localhost")]
    [InlineData("http://127.0.0.1:7787/sub", "not an http://ADDRESS:PORT URL")]
    [InlineData("", "no URL given")]
    public void Urls_AreParsed_OrRefused(string urls, string? error)
    {
        var (endpoints, message) = DashboardOptions.ParseUrls([urls]);
        if (error is null)
        {
            Assert.Null(message);
            Assert.NotEmpty(endpoints);
        }
        else
        {
            Assert.Contains(error, message, StringComparison.Ordinal);
        }
    }

    private async Task<JsonNode> GetJsonAsync(string path)
    {
        using var response = await fixture.Http.GetAsync(new Uri(fixture.Base, path));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }
}
