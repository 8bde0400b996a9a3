using System.Net;
using System.Text.Json.Nodes;
using HardenRunner.Dashboard;
using HardenRunner.Events;
using HardenRunner.Insights;
using HardenRunner.Insights.Detections;
using HardenRunner.Policy.Model;
using HardenRunner.Store;
using HardenRunner.Store.Fleet;
using HardenRunner.Store.Postgres;

namespace HardenRunner.Tests.Store;

/// <summary>
/// Reading the whole fleet from the real PostgreSQL server: <c>recommend --store</c>, the <c>new-endpoint</c> baseline in
/// fleet mode and the dashboard all see the same job's runs from two runner host names.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresFleetInsightsTests(PostgresFixture pg) : IDisposable
{
    private static readonly FleetShippingOptions Fast = new()
    {
        MinRetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(200),
        IdlePoll = TimeSpan.FromMilliseconds(100),
        DrainTimeout = TimeSpan.FromSeconds(10),
    };

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Recommend_WithStore_UsesTheJobsRunsFromBothRunners()
    {
        var db = await pg.Server.CreateDatabaseAsync();
        await SeedTwoRunnersAsync(db);

        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await RecommendRunner.RunAsync(new RecommendRequest(_dir.Path, null, null, null, Store: pg.Server.UriText(db)), stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        var text = stdout.ToString();
        Assert.Contains("from 2 run(s) of acme/web / ci / build: on-runner-b, on-runner-a", text, StringComparison.Ordinal);
        Assert.Contains("\"registry.npmjs.org:443\"  # 1 of 2 run(s)", text, StringComparison.Ordinal);
        Assert.Contains("\"allowed.test:443\"  # 1 of 2 run(s)", text, StringComparison.Ordinal);
        Assert.DoesNotContain(pg.Server.Password, text + stderr, StringComparison.Ordinal);

        // the same request on the local store (nothing recorded on this machine) is an error, not the fleet's answer
        using var localErr = new StringWriter();
        Assert.Equal(1, await RecommendRunner.RunAsync(new RecommendRequest(_dir.Path, null, null, null), new StringWriter(), localErr));
        Assert.Contains("no store at", localErr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Baseline_InFleetMode_ComparesWithTheJobsRunsOnAnotherRunner()
    {
        var db = await pg.Server.CreateDatabaseAsync();
        await using (var remote = await PostgresEventStore.OpenAsync(pg.Server.Uri(db)))
        {
            await remote.BeginRunAsync(SampleEvents.Run("on-runner-a", SampleEvents.T0) with { HostName = "runner-a" });
            await remote.AppendAsync("on-runner-a", [SampleEvents.Https(1) with { Host = "registry.npmjs.org" }]);
            await remote.EndRunAsync("on-runner-a", SampleEvents.T0.AddMinutes(5), 0);
        }

        // runner-b has never run this job itself: its local file holds only the current run
        var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(pg.Server.Uri(db), _dir.Path, Fast);
        await using (fleet)
        {
            await fleet.BeginRunAsync(SampleEvents.Run("on-runner-b", SampleEvents.T0.AddHours(1)) with { HostName = "runner-b" });
            await fleet.AppendAsync("on-runner-b", [SampleEvents.Https(2) with { Host = "registry.npmjs.org" }, SampleEvents.Https(3) with { Host = "new.example" }]);
            await BaselineDetections.AppendAsync(fleet, "on-runner-b");
            var news = await NewEndpointsAsync(fleet, "on-runner-b");
            var only = Assert.Single(news);
            Assert.Equal("new.example:443", only.Evidence["destination"]);
            Assert.Equal("1", only.Evidence["pastRuns"]);
        }
    }

    [Fact]
    public async Task Baseline_InFleetMode_FallsBackToThisRunnersRuns_WhenTheDatabaseIsUnreachable()
    {
        var unreachable = PostgresStoreUri.Parse($"postgres://{PostgresServer.User}@127.0.0.1:1/nowhere");
        var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(unreachable, _dir.Path, Fast with { DrainTimeout = TimeSpan.FromMilliseconds(200) });
        await using (fleet)
        {
            await fleet.BeginRunAsync(SampleEvents.Run("local-past", SampleEvents.T0));
            await fleet.AppendAsync("local-past", [SampleEvents.Https(1) with { Host = "registry.npmjs.org" }]);
            await fleet.BeginRunAsync(SampleEvents.Run("local-now", SampleEvents.T0.AddHours(1)));
            await fleet.AppendAsync("local-now", [SampleEvents.Https(2) with { Host = "registry.npmjs.org" }, SampleEvents.Https(3) with { Host = "new.example" }]);
            await BaselineDetections.AppendAsync(fleet, "local-now");
            Assert.Equal(["new.example:443"], (await NewEndpointsAsync(fleet, "local-now")).Select(d => d.Evidence["destination"]));
        }
    }

    [Fact]
    public async Task Dashboard_OverPostgres_ListsBothRunners_AndFiltersByRunner()
    {
        var db = await pg.Server.CreateDatabaseAsync();
        await SeedTwoRunnersAsync(db);
        await using var store = await PostgresEventStore.OpenAsync(pg.Server.Uri(db));
        await using var server = await DashboardServer.StartAsync(store, new DashboardOptions { Urls = ["http://127.0.0.1:0"] });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var baseUri = new Uri(Assert.Single(server.Urls));

        var runs = JsonNode.Parse(await http.GetStringAsync(new Uri(baseUri, "/api/runs")))!.AsArray();
        Assert.Equal(["on-runner-b", "on-runner-a"], runs.Select(r => (string)r!["id"]!));
        Assert.Equal(["runner-b", "runner-a"], runs.Select(r => (string)r!["runner"]!));
        var filtered = JsonNode.Parse(await http.GetStringAsync(new Uri(baseUri, "/api/runs?runner=runner-a")))!.AsArray();
        Assert.Equal(["on-runner-a"], filtered.Select(r => (string)r!["id"]!));

        var destinations = JsonNode.Parse(await http.GetStringAsync(new Uri(baseUri, "/api/destinations")))!["destinations"]!.AsArray();
        Assert.Equal(["allowed.test:443", "registry.npmjs.org:443"], destinations.Select(d => (string)d!["destination"]!).Order(StringComparer.Ordinal));
        using var page = await http.GetAsync(new Uri(baseUri, "/"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<td>runner-a</td>", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private async Task SeedTwoRunnersAsync(string db)
    {
        await using var remote = await PostgresEventStore.OpenAsync(pg.Server.Uri(db));
        await remote.BeginRunAsync(SampleEvents.Run("on-runner-a", SampleEvents.T0, EgressMode.Audit) with { HostName = "runner-a" });
        await remote.AppendAsync("on-runner-a", [SampleEvents.Https(1) with { Host = "registry.npmjs.org" }]);
        await remote.EndRunAsync("on-runner-a", SampleEvents.T0.AddMinutes(5), 0);
        await remote.BeginRunAsync(SampleEvents.Run("on-runner-b", SampleEvents.T0.AddHours(1), EgressMode.Audit) with { HostName = "runner-b" });
        await remote.AppendAsync("on-runner-b", [SampleEvents.Https(2)]);
        await remote.EndRunAsync("on-runner-b", SampleEvents.T0.AddHours(1).AddMinutes(5), 0);
    }

    private static async Task<List<DetectionEvent>> NewEndpointsAsync(IEventStore store, string runId)
    {
        var result = new List<DetectionEvent>();
        await foreach (var s in store.ReadEventsAsync(runId, EventKind.Detection))
        {
            if (s.Event is DetectionEvent { Type: BaselineDetections.NewEndpoint } d)
            {
                result.Add(d);
            }
        }

        return result;
    }
}
