using HardenRunner.Events;
using HardenRunner.Insights.Permissions;
using HardenRunner.Policy.Model;
using YamlDotNet.RepresentationModel;

namespace HardenRunner.Tests.Insights;

/// <summary>From token-carrying calls to the minimal permissions: block, with evidence.</summary>
public sealed class TokenPermissionAnalyzerTests
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    internal static NetworkEvent Call(string method, string host, string path, string token = GitHubCall.InstallationToken, string? header = null, GraphQlSummary? graphQl = null, string action = NetworkEvent.Passed, string? step = "__run_2", int status = 200) =>
        new(T0, "https", host, "198.51.100.30", 443, Decision.Allow, action, "r", method, path)
        {
            Step = step is null ? null : new StepInfo(step, null),
            GitHub = new GitHubCall(token, status, header, graphQl),
        };

    private static Dictionary<string, string> PermissionsOf(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        var block = root.Children[new YamlScalarNode("permissions")];
        return block is YamlMappingNode m
            ? m.Children.ToDictionary(kv => ((YamlScalarNode)kv.Key).Value!, kv => ((YamlScalarNode)kv.Value).Value!)
            : throw new InvalidOperationException("permissions is not a mapping");
    }

    public static TheoryData<string, NetworkEvent[], string> Cases => new()
    {
        {
            "the lab job: contents read, issue comment, GraphQL query and mutation",
            [
                Call("GET", "api.github.com", "/repos/acme/web/contents/README.md", header: "contents=read"),
                Call("POST", "api.github.com", "/repos/acme/web/issues/1/comments", header: "issues=write; pull_requests=write", status: 201),
                Call("POST", "api.github.com", "/graphql", graphQl: new GraphQlSummary("query", ["repository", "repository.issues"], ["acme/web"])),
                Call("POST", "api.github.com", "/graphql", graphQl: new GraphQlSummary("mutation", ["addComment"], [])),
            ],
            "contents=read,issues=write"
        },
        { "nothing", [], "" },
        { "only a personal token", [Call("GET", "api.github.com", "/repos/acme/web/contents/x", token: GitHubCall.PersonalToken)], "" },
        { "only another credential", [Call("PUT", "api.github.com", "/repos/acme/web/contents/x", token: GitHubCall.OtherCredential)], "" },
        { "a call the policy blocked", [Call("PUT", "api.github.com", "/repos/acme/web/contents/x", action: NetworkEvent.Blocked)], "" },
        { "metadata only", [Call("GET", "api.github.com", "/repos/acme/web"), Call("GET", "api.github.com", "/rate_limit")], "" },
        { "write beats read", [Call("GET", "api.github.com", "/repos/acme/web/contents/x"), Call("PUT", "api.github.com", "/repos/acme/web/contents/x")], "contents=write" },
        { "git fetch and push", [Call("GET", "github.com", "/acme/web.git/info/refs?service=git-upload-pack"), Call("POST", "github.com", "/acme/web.git/git-receive-pack")], "contents=write" },
        {
            "an alternative joins a scope that another call needs anyway",
            [Call("POST", "api.github.com", "/repos/acme/web/issues/1/comments"), Call("POST", "api.github.com", "/repos/acme/web/pulls/1/reviews")],
            "pull-requests=write"
        },
        { "an alternative alone takes the primary scope", [Call("POST", "api.github.com", "/repos/acme/web/issues/1/comments")], "issues=write" },
        { "other repository, secrets and unknown add nothing", [Call("PUT", "api.github.com", "/repos/other/lib/contents/x"), Call("GET", "api.github.com", "/repos/acme/web/actions/secrets"), Call("GET", "api.github.com", "/nope")], "" },
        { "registry token exchange", [Call("GET", "ghcr.io", "/token?scope=repository:acme/img:pull,push")], "packages=write" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Block_IsTheMinimalSet_AndValidYaml(string name, NetworkEvent[] events, string expected)
    {
        var analyzer = new TokenPermissionAnalyzer("acme/web");
        foreach (var e in events)
        {
            analyzer.Add("run-1", e);
        }

        var result = analyzer.Build();
        var actual = string.Join(",", result.Permissions.Select(p => $"{p.Key}={p.Value}"));
        Assert.True(expected == actual, $"{name}: expected '{expected}', got '{actual}'\n{result.ToYaml()}");
        var yaml = result.ToYaml();
        if (expected.Length == 0)
        {
            Assert.Contains("\npermissions: {}\n", yaml, StringComparison.Ordinal);
            Assert.Empty(PermissionsOf(yaml));
        }
        else
        {
            Assert.Equal(result.Permissions, PermissionsOf(yaml));
        }
    }

    [Fact]
    public void EveryLine_CarriesItsEvidence_AndFindingsAreListed()
    {
        var analyzer = new TokenPermissionAnalyzer("acme/web");
        analyzer.Add("r1", Call("GET", "api.github.com", "/repos/acme/web/contents/README.md", header: "contents=read", step: "actions_checkout"));
        analyzer.Add("r1", Call("POST", "api.github.com", "/repos/acme/web/issues/1/comments", status: 201));
        analyzer.Add("r2", Call("POST", "api.github.com", "/repos/acme/web/issues/1/comments", status: 201));
        analyzer.Add("r2", Call("GET", "api.github.com", "/repos/acme/web/actions/secrets"));
        analyzer.Add("r2", Call("PUT", "api.github.com", "/repos/other/lib/contents/x"));
        analyzer.Add("r2", Call("POST", "api.github.com", "/graphql", graphQl: new GraphQlSummary(GraphQlSummary.Unknown, [], [], "the query does not parse")));
        var result = analyzer.Build();
        var yaml = result.ToYaml();

        Assert.Contains("  contents: read  # GET api.github.com/repos/acme/web/contents/README.md (X-Accepted-GitHub-Permissions: contents=read; 1 call(s), HTTP 200; step actions_checkout)", yaml, StringComparison.Ordinal);
        Assert.Contains("  issues: write  # POST api.github.com/repos/acme/web/issues/1/comments (POST api.github.com/repos/{owner}/{repo}/issues/{issue_number}/comments; 2 call(s), HTTP 201; step __run_2)", yaml, StringComparison.Ordinal);
        Assert.Contains("from 6 call(s) that carried an installation (ghs_) token in 2 run(s)", yaml, StringComparison.Ordinal);
        Assert.Contains("needs the App permission 'secrets'", yaml, StringComparison.Ordinal);
        Assert.Contains("other/lib is not the job's repository acme/web", yaml, StringComparison.Ordinal);
        Assert.Contains("could not be read (the query does not parse)", yaml, StringComparison.Ordinal);
        Assert.Equal(3, result.Findings.Count);
        Assert.Equal(["contents", "issues"], result.Evidence.Select(e => e.Scope));
    }

    [Fact]
    public void SecretsInRecordedPaths_NeverReachTheOutput()
    {
        var analyzer = new TokenPermissionAnalyzer("acme/web");
        analyzer.Add("r1", Call("GET", "api.github.com", "/repos/acme/web/contents/ghs_16C7e42F292c6912E7710c838347Ae178B4a", step: "ghp_16C7e42F292c6912E7710c838347Ae178B4a"));
        var yaml = analyzer.Build().ToYaml();
        Assert.DoesNotContain("16C7e42F292c6912E7710c838347Ae178B4a", yaml, StringComparison.Ordinal);
        Assert.Contains("contents: read", yaml, StringComparison.Ordinal);
    }
}
