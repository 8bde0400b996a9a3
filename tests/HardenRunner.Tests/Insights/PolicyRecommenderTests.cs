using HardenRunner.Events;
using HardenRunner.Insights.Recommendation;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

namespace HardenRunner.Tests.Insights;

/// <summary>The recommended policy: every output is loaded with the real policy loader and asked real questions.</summary>
public sealed class PolicyRecommenderTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static RunInfo Run(string id) => new(id, T0, EgressMode.Audit) { Repository = "acme/web", Workflow = "ci", Job = "build" };

    private static NetworkEvent Net(string kind, string? host, int port, string? method = null, string? path = null, string action = NetworkEvent.Passed, string? step = "__run_2", string? address = "198.51.100.10") =>
        new(T0, kind, host, address, port, action == NetworkEvent.Blocked ? Decision.Deny : Decision.Allow, action, "r", method, path)
        {
            Step = step is null ? null : new StepInfo(step, step == "actions_checkout" ? "actions/checkout" : null),
        };

    private static (string Yaml, PolicyEngine Engine) Recommend(params (string RunId, NetworkEvent[] Events)[] runs)
    {
        var r = new PolicyRecommender();
        foreach (var (id, events) in runs)
        {
            r.BeginRun(Run(id));
            foreach (var e in events)
            {
                r.Add(e);
            }
        }

        var yaml = r.ToYaml();
        var load = PolicyLoader.Parse(yaml, "recommended");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics) + "\n" + yaml);
        Assert.Equal(EgressMode.Block, load.Policy!.EgressPolicy);
        return (yaml, new PolicyEngine(load.Policy));
    }

    private static bool Allows(PolicyEngine engine, string method, string url) => engine.DecideHttp(new Uri(url), method).IsAllowed;

    [Fact]
    public void Endpoints_WithPorts_Steps_AndComments()
    {
        var (yaml, engine) = Recommend(("r1",
        [
            Net("dns", "allowed.test", 53),
            Net("https", "allowed.test", 443, "GET", "/a", step: "actions_checkout"),
            Net("http", "allowed.test", 80, "GET", "/"),
            Net("tcp", "ssh.example.org", 22),
            Net("udp", "quic.example.org", 443),
            Net("https", "exfil.test", 443, "POST", "/upload", NetworkEvent.Blocked),
            Net("tcp", null, 4444, address: "203.0.113.7"),
            Net("dns", "only-resolved.test", 53),
        ]));

        Assert.Contains("  - \"allowed.test:443\"  # 1 of 1 run(s); steps: actions_checkout (actions/checkout)", yaml, StringComparison.Ordinal);
        Assert.Contains("  - \"allowed.test:80\"  # 1 of 1 run(s); steps: __run_2", yaml, StringComparison.Ordinal);
        Assert.Contains("  - \"ssh.example.org:22\"", yaml, StringComparison.Ordinal);
        Assert.Contains("  - \"quic.example.org:443/udp\"", yaml, StringComparison.Ordinal);
        Assert.Contains("#   - exfil.test:443  (1 of 1 run(s); steps: __run_2)", yaml, StringComparison.Ordinal);
        Assert.Contains("#   - 203.0.113.7:4444", yaml, StringComparison.Ordinal);
        Assert.Contains("#   - only-resolved.test", yaml, StringComparison.Ordinal);
        Assert.Contains("from 1 run(s) of acme/web / ci / build: r1", yaml, StringComparison.Ordinal);

        Assert.True(Allows(engine, "GET", "https://allowed.test/anything"));
        Assert.True(Allows(engine, "POST", "http://allowed.test/"));
        Assert.False(Allows(engine, "POST", "https://exfil.test/upload"));
        Assert.True(engine.DecideConnection("ssh.example.org", 22, Transport.Tcp).IsAllowed);
        Assert.True(engine.DecideConnection("quic.example.org", 443, Transport.Udp).IsAllowed);
        Assert.False(engine.DecideConnection("quic.example.org", 443, Transport.Tcp).IsAllowed);
        Assert.False(engine.DecideDns("only-resolved.test").IsAllowed);
        Assert.False(engine.DecideAddress(System.Net.IPAddress.Parse("203.0.113.7"), 4444, Transport.Tcp).IsAllowed);
    }

    [Fact]
    public void GitHubApi_GetsRulesScopedToTheObservedRepositories()
    {
        var (yaml, engine) = Recommend(("r1",
        [
            Net("https", "api.github.com", 443, "GET", "/repos/acme/web/contents/README.md?ref=main"),
            Net("https", "api.github.com", 443, "POST", "/repos/acme/web/issues/1/comments"),
            Net("https", "api.github.com", 443, "GET", "/repos/acme/lib/releases/latest"),
            Net("https", "api.github.com", 443, "POST", "/graphql"),
            Net("https", "api.github.com", 443, "GET", "/rate_limit"),
            Net("https", "github.com", 443, "GET", "/acme/web.git/info/refs?service=git-upload-pack"),
            Net("https", "github.com", 443, "POST", "/acme/web.git/git-upload-pack"),
        ]));

        Assert.Contains("      - { method: [GET, POST], path: \"/repos/acme/web/**\" }  # 2 request(s)", yaml, StringComparison.Ordinal);
        Assert.Contains("      - { method: GET, path: \"/repos/acme/lib/**\" }", yaml, StringComparison.Ordinal);
        Assert.Contains("      - { method: POST, path: \"/graphql\" }", yaml, StringComparison.Ordinal);
        Assert.Contains("      - { method: [GET, POST], path: \"/acme/web.git/**\" }", yaml, StringComparison.Ordinal);

        Assert.True(Allows(engine, "GET", "https://api.github.com/repos/acme/web/pulls/3"));
        Assert.True(Allows(engine, "POST", "https://api.github.com/repos/acme/web/issues/9/comments"));
        Assert.True(Allows(engine, "POST", "https://api.github.com/graphql"));
        Assert.True(Allows(engine, "GET", "https://api.github.com/rate_limit"));
        Assert.False(Allows(engine, "POST", "https://api.github.com/repos/acme/lib/issues"));
        Assert.False(Allows(engine, "POST", "https://api.github.com/repos/evil/drop/issues"));
        Assert.False(Allows(engine, "POST", "https://api.github.com/gists"));
        Assert.False(Allows(engine, "GET", "https://api.github.com/repos/acme/web/../../evil/x/contents"));
        Assert.True(Allows(engine, "GET", "https://github.com/acme/web.git/info/refs"));
        Assert.False(Allows(engine, "POST", "https://github.com/evil/drop.git/git-receive-pack"));
    }

    [Fact]
    public void SplicedConnection_ToAGitHubHost_GetsNoRules()
    {
        var (yaml, engine) = Recommend(("r1",
        [
            Net("https", "api.github.com", 443, "GET", "/repos/acme/web"),
            Net("https", "api.github.com", 443),
        ]));
        Assert.DoesNotContain("rules:", yaml, StringComparison.Ordinal);
        Assert.True(Allows(engine, "POST", "https://api.github.com/anything"));
    }

    [Fact]
    public void ManyNonRepositoryPaths_AreFoldedToTheirFirstSegment()
    {
        var events = Enumerable.Range(0, 20).Select(i => Net("https", "api.github.com", 443, "GET", $"/users/u{i}")).Append(Net("https", "api.github.com", 443, "GET", "/meta")).ToArray();
        var (yaml, engine) = Recommend(("r1", events));
        Assert.Contains("{ method: GET, path: \"/users/**\" }  # 20 request(s)", yaml, StringComparison.Ordinal);
        Assert.True(Allows(engine, "GET", "https://api.github.com/users/someone-else"));
        Assert.False(Allows(engine, "DELETE", "https://api.github.com/users/u1"));
    }

    [Theory]
    [InlineData("actions.githubusercontent.com", 5, true)]
    [InlineData("actions.githubusercontent.com", 3, false)]
    [InlineData("cdn.example.com", 4, true)]
    [InlineData("example.com", 6, true)]
    [InlineData("github.io", 6, false)] // every name a different tenant
    [InlineData("co.uk", 6, false)] // a public suffix
    [InlineData("com", 6, false)]
    public void Wildcards_OnlyForManySiblingsBelowARegistrableDomain(string parent, int count, bool wildcard)
    {
        var events = Enumerable.Range(0, count).Select(i => Net("https", $"n{i}.{parent}", 443, "GET", "/")).ToArray();
        var (yaml, engine) = Recommend(("r1", events));
        Assert.Equal(wildcard, yaml.Contains($"\"*.{parent}:443\"", StringComparison.Ordinal));
        if (wildcard)
        {
            Assert.Contains($"# wildcard: {count} sibling names of {parent} were reached", yaml, StringComparison.Ordinal);
            Assert.True(Allows(engine, "GET", $"https://new-one.{parent}/"));
            Assert.False(Allows(engine, "GET", $"https://{parent}/"));
            Assert.DoesNotContain($"\"n0.{parent}:443\"", yaml, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains($"\"n0.{parent}:443\"", yaml, StringComparison.Ordinal);
            Assert.False(Allows(engine, "GET", $"https://new-one.{parent}/"));
        }
    }

    [Fact]
    public void AcrossRuns_EachEntrySaysHowManyRunsReachedIt()
    {
        var (yaml, _) = Recommend(
            ("r2", [Net("https", "allowed.test", 443, "GET", "/"), Net("https", "registry.npmjs.org", 443, "GET", "/x", step: "__run_3")]),
            ("r1", [Net("https", "allowed.test", 443, "GET", "/")]));
        Assert.Contains("\"allowed.test:443\"  # 2 of 2 run(s); steps: __run_2", yaml, StringComparison.Ordinal);
        Assert.Contains("\"registry.npmjs.org:443\"  # 1 of 2 run(s); steps: __run_3", yaml, StringComparison.Ordinal);
        Assert.Contains("from 2 run(s) of acme/web / ci / build: r2, r1", yaml, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyRun_IsAValidPolicyAllowingNothing()
    {
        var (yaml, engine) = Recommend(("r1", []));
        Assert.Contains("allowed-endpoints: []", yaml, StringComparison.Ordinal);
        Assert.False(Allows(engine, "GET", "https://allowed.test/"));
    }

    [Fact]
    public void HostileNamesAndSteps_CannotBreakOrLeakThroughTheYaml()
    {
        var (yaml, engine) = Recommend(("r1",
        [
            Net("https", "evil\"\n- \"*:443", 443, "GET", "/"),
            Net("https", "ok.test", 443, "GET", "/", step: "x\negress-policy: audit\n# ghs_16C7e42F292c6912E7710c838347Ae178B4a"),
            Net("https", "api.github.com", 443, "GET", "/repos/a\"b/c d/x"),
            Net("https", "api.github.com", 443, "WEIRD\"", "/x"),
            Net("https", "192.0.2.5", 443, "GET", "/"),
        ]));
        Assert.DoesNotContain("16C7e42F292c6912E7710c838347Ae178B4a", yaml, StringComparison.Ordinal);
        Assert.True(Allows(engine, "GET", "https://ok.test/"));
        Assert.False(Allows(engine, "GET", "https://other.test/"));
        Assert.Equal(EgressMode.Block, engine.Mode);
    }
}
