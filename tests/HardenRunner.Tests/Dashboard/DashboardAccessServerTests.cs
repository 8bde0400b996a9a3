using System.Net;
using System.Text.Json.Nodes;
using HardenRunner.Dashboard;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.Reporting;
using HardenRunner.Tests.Reporting.Views;

namespace HardenRunner.Tests.Dashboard;

/// <summary>A real dashboard on loopback with per-repository access: alice sees acme/*, bob sees other/api, the user comes from X-Forwarded-User.</summary>
public sealed class DashboardAccessFixture : IAsyncLifetime
{
    public const string Header = "X-Forwarded-User";

    private StoreFixture _store = null!;

    public DashboardServer Server { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public Uri Base { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _store = StoreFixture.Create();
        await ViewSampleRun.RecordAsync(_store.Store, "run-a", EgressMode.Block, ViewSampleRun.T0, repository: "acme/web", hostName: "runner-1");
        await ViewSampleRun.RecordAsync(_store.Store, "run-b", EgressMode.Block, ViewSampleRun.T0.AddHours(1), repository: "other/api", workflow: "release", job: "publish", hostName: "runner-2");
        var access = DashboardAccess.Parse("""
            users:
              alice: [acme/*]
              bob: [other/api]
              carol: []
            """);
        Server = await DashboardServer.StartAsync(_store.Store, new DashboardOptions { Urls = ["http://127.0.0.1:0"], Access = access, AuthHeader = Header });
        Base = new Uri(Assert.Single(Server.Urls));
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        await _store.DisposeAsync();
    }
}

public sealed class DashboardAccessServerTests(DashboardAccessFixture fixture) : IClassFixture<DashboardAccessFixture>
{
    [Theory]
    [InlineData("alice", "run-a")]
    [InlineData("bob", "run-b")]
    public async Task ApiRuns_ListOnlyTheUsersRepositories(string user, string run)
    {
        var (status, body) = await GetAsync("/api/runs", user);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([run], JsonNode.Parse(body)!.AsArray().Select(r => (string)r!["id"]!));
    }

    [Theory]
    [InlineData("alice", "/api/runs/run-b")]
    [InlineData("alice", "/api/runs/run-b/events?kind=network")]
    [InlineData("alice", "/runs/run-b")]
    [InlineData("bob", "/api/runs/run-a")]
    [InlineData("bob", "/runs/run-a")]
    [InlineData("carol", "/api/runs/run-a")]
    public async Task AnotherUsersRun_IsNotFound_LikeAMissingOne(string user, string path)
    {
        var (status, body) = await GetAsync(path, user);
        Assert.Equal(HttpStatusCode.NotFound, status);
        var (missingStatus, _) = await GetAsync(path.Replace("run-a", "run-x", StringComparison.Ordinal).Replace("run-b", "run-x", StringComparison.Ordinal), user);
        Assert.Equal(HttpStatusCode.NotFound, missingStatus);
        Assert.DoesNotContain("reverse-shell", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OwnRun_IsServed()
    {
        var (status, body) = await GetAsync("/api/runs/run-b", "bob");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("run-b", (string?)JsonNode.Parse(body)!["run"]!["id"]);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/runs/run-a", "alice")).Status);
    }

    [Fact]
    public async Task OrganisationViews_CoverOnlyTheUsersRuns()
    {
        var destinations = JsonNode.Parse((await GetAsync("/api/destinations", "bob")).Body)!;
        Assert.Equal(1, (int)destinations["runs"]!);
        Assert.All(destinations["destinations"]!.AsArray(), d => Assert.Equal(["other/api"], d!["jobs"]!.AsArray().Select(j => (string)j!["repository"]!)));

        var detections = JsonNode.Parse((await GetAsync("/api/detections", "alice")).Body)!["detections"]!.AsArray();
        Assert.Equal(4, detections.Count);
        Assert.All(detections, d => Assert.Equal("run-a", (string?)d!["runId"]));

        // asking for another user's repository by filter gives nothing, not their runs
        Assert.Empty(JsonNode.Parse((await GetAsync("/api/runs?repository=other/api", "alice")).Body)!.AsArray());
        Assert.Equal(0, (int)JsonNode.Parse((await GetAsync("/api/detections?repository=other/api", "alice")).Body)!["runs"]!);
        Assert.Empty(JsonNode.Parse((await GetAsync("/api/runs", "carol")).Body)!.AsArray());
    }

    [Fact]
    public async Task Pages_ShowOnlyTheUsersRuns_AndFilterChoices()
    {
        var (status, html) = await GetAsync("/", "alice");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("/runs/run-a", html, StringComparison.Ordinal);
        Assert.DoesNotContain("run-b", html, StringComparison.Ordinal);
        Assert.DoesNotContain("other/api", html, StringComparison.Ordinal);
        Assert.DoesNotContain("runner-2", html, StringComparison.Ordinal);
        Assert.Contains("signed in as <strong>alice</strong>", html, StringComparison.Ordinal);
        var (_, destinations) = await GetAsync("/destinations", "alice");
        Assert.DoesNotContain("other/api", destinations, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingOrUnknownUser_IsRefused()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/api/runs", null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/api/runs", "  ")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/runs/run-a", null)).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync("/api/runs", "mallory")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync("/api/runs/run-a", "Alice")).Status);
    }

    [Fact]
    public async Task TwoUserHeaders_AreRefused()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Base, "/api/runs"));
        request.Headers.TryAddWithoutValidation(DashboardAccessFixture.Header, ["bob", "alice"]);
        using var response = await fixture.Http.SendAsync(request);
        // one header line "bob, alice" (an unknown user) or two lines (not one user): refused either way
        Assert.Contains(response.StatusCode, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden });
    }

    [Fact]
    public async Task StartingWithHalfTheConfiguration_IsRefused()
    {
        await using var store = StoreFixture.Create();
        var access = DashboardAccess.Parse("users: {alice: ['*']}");
        await Assert.ThrowsAsync<ArgumentException>(() => DashboardServer.StartAsync(store.Store, new DashboardOptions { Urls = ["http://127.0.0.1:0"], Access = access }));
        await Assert.ThrowsAsync<ArgumentException>(() => DashboardServer.StartAsync(store.Store, new DashboardOptions { Urls = ["http://127.0.0.1:0"], AuthHeader = "X-Forwarded-User" }));
    }

    private async Task<(HttpStatusCode Status, string Body)> GetAsync(string path, string? user)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Base, path));
        if (user is not null)
        {
            request.Headers.TryAddWithoutValidation(DashboardAccessFixture.Header, user);
        }

        using var response = await fixture.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
