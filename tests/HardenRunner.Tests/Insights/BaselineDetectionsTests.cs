using HardenRunner.Events;
using HardenRunner.Insights.Detections;
using HardenRunner.Policy.Model;
using HardenRunner.Store;
using HardenRunner.Tests.Reporting;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Insights;

/// <summary>new-endpoint against the job's past runs and github-cross-org-write, pure and through the store.</summary>
public sealed class BaselineDetectionsTests
{
    private static readonly DateTimeOffset T0 = SampleEvents.T0;

    private static NetworkEvent Net(string host, int port = 443, string? method = "GET", string? path = "/", string kind = "https", string action = NetworkEvent.Passed) =>
        new(T0, kind, host, "198.51.100.10", port, Decision.Allow, action, "r", method, path) { Step = new StepInfo("__run_2", null) };

    [Fact]
    public void NewEndpoint_OnlyAgainstABaseline_OncePerDestination()
    {
        var run = SampleEvents.Run("now");
        NetworkEvent[] events = [Net("allowed.test"), Net("new.test"), Net("new.test"), Net("allowed.test", 80, kind: "http"), Net("new.test", kind: "dns")];
        Assert.Empty(BaselineDetections.Detect(run, events, past: null));

        var found = BaselineDetections.Detect(run, events, new HashSet<string> { "allowed.test:443" }, pastRuns: 3);
        Assert.Equal(["new.test:443", "allowed.test:80"], found.Select(d => d.Evidence["destination"]));
        Assert.All(found, d => Assert.Equal(("new-endpoint", "medium"), (d.Type, d.Severity)));
        Assert.Contains("none of this job's 3 past run(s) did", found[0].Summary, StringComparison.Ordinal);
        Assert.Equal("__run_2", found[0].Step!.Action);
    }

    [Theory]
    [InlineData("POST", "api.github.com", "/repos/evil/drop/issues", "evil")]
    [InlineData("PUT", "api.github.com", "/repos/Evil/drop/contents/x", "Evil")]
    [InlineData("PATCH", "api.github.com", "/orgs/evil", "evil")]
    [InlineData("DELETE", "api.github.com", "/repos/%65vil/drop", "evil")]
    [InlineData("POST", "uploads.github.com", "/repos/evil/drop/releases/1/assets?name=a", "evil")]
    [InlineData("POST", "github.com", "/evil/drop.git/git-receive-pack", "evil")]
    [InlineData("POST", "api.github.com", "/repos/acme/web/issues", null)]
    [InlineData("POST", "api.github.com", "/repos/ACME/web/issues", null)]
    [InlineData("GET", "api.github.com", "/repos/evil/drop/contents/x", null)]
    [InlineData("POST", "github.com", "/evil/drop.git/git-upload-pack", null)]
    [InlineData("POST", "api.github.com", "/graphql", null)]
    [InlineData("POST", "exfil.test", "/repos/evil/drop", null)]
    public void CrossOrgWrite_IsAMutatingCallIntoAnotherOwner(string method, string host, string path, string? target)
    {
        var e = Net(host, method: method, path: path);
        Assert.Equal(target, BaselineDetections.CrossOrgTarget(e, "acme"));
        var found = BaselineDetections.Detect(SampleEvents.Run("now"), [e], past: null);
        Assert.Equal(target is null ? 0 : 1, found.Count(d => d.Type == "github-cross-org-write"));
    }

    [Fact]
    public void ManyDetections_AreBounded()
    {
        var events = Enumerable.Range(0, 300).Select(i => Net($"n{i}.test")).ToArray();
        var found = BaselineDetections.Detect(SampleEvents.Run("now"), events, new HashSet<string>(), 1);
        Assert.Equal(BaselineDetections.MaxPerType + 1, found.Count);
        Assert.Contains("200 more new destinations", found[^1].Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AppendAsync_ComparesWithTheSameJobsPastRuns_AndStoresTheDetections()
    {
        await using var fixture = StoreFixture.Create();
        var store = fixture.Store;
        await store.BeginRunAsync(SampleEvents.Run("past", T0));
        await store.AppendAsync("past", [Net("allowed.test")]);
        await store.BeginRunAsync(SampleEvents.Run("other-job", T0.AddMinutes(1), job: "deploy"));
        await store.AppendAsync("other-job", [Net("new.test")]);
        await store.BeginRunAsync(SampleEvents.Run("now", T0.AddMinutes(2)));
        await store.AppendAsync("now", [Net("allowed.test"), Net("new.test"), Net("api.github.com", method: "POST", path: "/repos/evil/x/issues")]);

        Assert.Equal(0, await BaselineDetections.AppendAsync(store, "past"));
        Assert.Equal(3, await BaselineDetections.AppendAsync(store, "now"));
        var stored = new List<DetectionEvent>();
        await foreach (var s in store.ReadEventsAsync("now", EventKind.Detection))
        {
            stored.Add((DetectionEvent)s.Event);
        }

        Assert.Equal(
            ["new-endpoint new.test:443", "new-endpoint api.github.com:443", "github-cross-org-write evil"],
            stored.Select(d => d.Type + " " + (d.Evidence.TryGetValue("destination", out var x) ? x : d.Evidence["owner"])));
    }
}
