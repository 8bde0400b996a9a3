using HardenRunner.Events;
using HardenRunner.Insights.Permissions;

namespace HardenRunner.Tests.Insights;

/// <summary>The GITHUB_TOKEN mapping against the embedded data file: REST, git, registries, precedence, the header, GraphQL.</summary>
public sealed class PermissionMapperTests
{
    private const string Own = "acme/web";

    private static readonly PermissionMapper Mapper = PermissionMapper.Default;

    [Fact]
    public void EmbeddedData_KeepsItsHeader_AndLoads()
    {
        var text = PermissionTable.EmbeddedText();
        Assert.StartsWith("# GITHUB_TOKEN permission requirements of GitHub HTTP endpoints", text, StringComparison.Ordinal);
        Assert.Contains("it is not a copy of any upstream file", text, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(Reporting.ReportSchema.PathInRepo("src/HardenRunner/Insights/Permissions/github-token-permissions.yml")), text);
        var table = PermissionTable.Default;
        Assert.True(table.Entries.Count > 400, $"{table.Entries.Count} entries");
        Assert.Equal(14, table.GraphQlHints.Count);
        Assert.Contains("contents", table.Scopes.Keys);
        Assert.True(table.Covers("api.github.com"));
        Assert.True(table.Covers("pipelines.actions.githubusercontent.com"));
        Assert.False(table.Covers("exfil.test"));
    }

    [Theory]
    // REST on api.github.com
    [InlineData("GET", "api.github.com", "/repos/acme/web/contents/README.md", "Grant", "contents: read")]
    [InlineData("HEAD", "api.github.com", "/repos/acme/web/contents/a/b/c.txt?ref=main", "Grant", "contents: read")]
    [InlineData("PUT", "api.github.com", "/repos/acme/web/contents/src/app.js", "Grant", "contents: write")]
    [InlineData("POST", "api.github.com", "/repos/acme/web/issues/12/comments", "Grant", "issues: write")]
    [InlineData("GET", "api.github.com", "/repos/acme/web/issues/12/comments", "Grant", "issues: read")]
    [InlineData("PUT", "api.github.com", "/repos/acme/web/pulls/3/merge", "Grant", "contents: write")]
    [InlineData("PUT", "api.github.com", "/repos/acme/web/pulls/3/update-branch", "Grant", "pull-requests: write")]
    [InlineData("GET", "api.github.com", "/repos/acme/web/commits/abc123/check-runs", "Grant", "checks: read")]
    [InlineData("DELETE", "api.github.com", "/repos/acme/web/git/refs/heads/feature/x", "Grant", "contents: write")]
    [InlineData("GET", "api.github.com", "/repositories/123/pulls", "Grant", "pull-requests: read")]
    [InlineData("GET", "api.github.com", "/repos/ACME/Web/contents/x", "Grant", "contents: read")]
    [InlineData("GET", "api.github.com", "/repos/acme/web/actions/runs", "Grant", "actions: read")]
    [InlineData("POST", "api.github.com", "/repos/acme/web/statuses/abc123", "Grant", "statuses: write")]
    [InlineData("GET", "API.GitHub.com.", "/repos/acme//web/contents/%52EADME.md", "Grant", "contents: read")]
    // metadata and public calls need nothing
    [InlineData("GET", "api.github.com", "/repos/acme/web", "NoPermission", null)]
    [InlineData("GET", "api.github.com", "/repos/acme/web/tags", "NoPermission", null)]
    [InlineData("GET", "api.github.com", "/rate_limit", "NoPermission", null)]
    [InlineData("OPTIONS", "api.github.com", "/repos/acme/web/issues", "NoPermission", null)]
    // calls GITHUB_TOKEN can never make
    [InlineData("GET", "api.github.com", "/repos/acme/web/actions/secrets", "NotGrantable", null)]
    [InlineData("PATCH", "api.github.com", "/repos/acme/web", "NotGrantable", null)]
    [InlineData("GET", "api.github.com", "/user", "NotGrantable", null)]
    // another repository: no permission can help
    [InlineData("GET", "api.github.com", "/repos/other/lib/contents/x", "CrossRepository", null)]
    [InlineData("POST", "api.github.com", "/repos/evil/drop/issues", "CrossRepository", null)]
    [InlineData("GET", "github.com", "/evil/drop.git/info/refs?service=git-upload-pack", "CrossRepository", null)]
    // git smart HTTP on github.com (.git stripped, query constraints)
    [InlineData("GET", "github.com", "/acme/web.git/info/refs?service=git-upload-pack", "Grant", "contents: read")]
    [InlineData("GET", "github.com", "/acme/web/info/refs?service=git-receive-pack", "Grant", "contents: write")]
    [InlineData("POST", "github.com", "/acme/web.git/git-upload-pack", "Grant", "contents: read")]
    [InlineData("POST", "github.com", "/acme/web.git/git-receive-pack", "Grant", "contents: write")]
    // registries: the token exchange's scope decides; a tie takes the highest level
    [InlineData("GET", "ghcr.io", "/token?scope=repository:acme/img:pull,push&service=ghcr.io", "Grant", "packages: write")]
    [InlineData("GET", "ghcr.io", "/token?scope=repository:acme/img:pull", "Grant", "packages: read")]
    [InlineData("PUT", "npm.pkg.github.com", "/@acme%2fpkg", "Grant", "packages: write")]
    // nothing known
    [InlineData("GET", "api.github.com", "/no/such/endpoint", "Unknown", null)]
    [InlineData("GET", "exfil.test", "/repos/acme/web/contents/x", "Unknown", null)]
    public void Rest_MapsByTheDataAndItsPrecedence(string method, string host, string target, string outcome, string? grant)
    {
        var match = Mapper.Map(GitHubRequest.Create(method, host, target), Own);
        Assert.True(Enum.Parse<MatchOutcome>(outcome) == match.Outcome, $"{method} {host}{target}: {match.Outcome} ({match.Basis})");
        Assert.Equal(grant, match.Grant?.ToString() is { } g && match.Outcome == MatchOutcome.Grant ? g : null);
    }

    [Fact]
    public void SharedIssueEndpoint_CarriesPullRequestsAsAlternative()
    {
        var match = Mapper.Map(GitHubRequest.Create("POST", "api.github.com", "/repos/acme/web/issues/1/comments"), Own);
        Assert.Equal(new ScopeLevel("pull-requests", "write"), Assert.Single(match.Alternatives));
    }

    [Theory]
    [InlineData("contents=read", "Grant", "contents: read", "")]
    [InlineData("issues=write; pull_requests=write", "Grant", "issues: write", "pull-requests: write")]
    [InlineData("pull_requests=write; issues=write", "Grant", "issues: write", "pull-requests: write")] // the data's primary scope first
    [InlineData("repository_projects=write; organization_projects=admin", "Grant", "repository-projects: write", "")]
    [InlineData("administration=write", "NotGrantable", null, "")]
    [InlineData("metadata=read", "NoPermission", null, "")]
    [InlineData("  ", "Grant", "issues: write", "pull-requests: write")] // blank: the table decides
    public void Header_IsPreferredOverTheTable(string header, string outcome, string? grant, string alternatives)
    {
        // the table says issues write for this call; the header overrides it when present
        var match = Mapper.Map(GitHubRequest.Create("POST", "api.github.com", "/repos/acme/web/issues/1/comments"), Own, header);
        Assert.Equal(Enum.Parse<MatchOutcome>(outcome), match.Outcome);
        Assert.Equal(grant, match.Outcome == MatchOutcome.Grant ? match.Grant!.ToString() : null);
        Assert.Equal(alternatives, string.Join(",", match.Alternatives));
        if (!string.IsNullOrWhiteSpace(header))
        {
            Assert.Equal("header", match.Source);
            Assert.Contains(header.Trim(), match.Basis, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Header_SetOfSeveralPermissions_NeedsAllOfThem()
    {
        var match = Mapper.Map(GitHubRequest.Create("GET", "api.github.com", "/repos/acme/web/x"), Own, "contents=read,issues=read");
        Assert.Equal(MatchOutcome.Grant, match.Outcome);
        Assert.Equal("contents: read", match.Grant!.ToString());
        Assert.Equal("issues: read", Assert.Single(match.AlsoNeeded).ToString());
    }

    [Theory]
    [InlineData("query", "repository,repository.issues,repository.issues.nodes", "", "Grant", "issues: read", "")]
    [InlineData("query", "repository,repository.pullRequest,repository.pullRequest.title", "", "Grant", "pull-requests: read", "")]
    [InlineData("query", "repository,repository.discussions", "", "Grant", "discussions: read", "")]
    [InlineData("query", "repository,repository.object", "acme/web", "Grant", "contents: read", "")]
    [InlineData("query", "repository,repository.issues,repository.pullRequests", "", "Grant", "issues: read", "pull-requests: read")]
    [InlineData("query", "repository,repository.name,repository.isPrivate", "", "NoPermission", null, "")]
    [InlineData("query", "rateLimit,rateLimit.remaining", "", "NoPermission", null, "")]
    [InlineData("query", "repository,repository.issues", "other/lib", "CrossRepository", null, "")]
    [InlineData("query", "viewer,viewer.login", "", "Unknown", null, "")]
    [InlineData("mutation", "addComment,addComment.clientMutationId", "", "Grant", "issues: write", "")]
    [InlineData("mutation", "createPullRequest", "", "Grant", "pull-requests: write", "")]
    [InlineData("mutation", "mergePullRequest", "", "Grant", "contents: write", "")]
    [InlineData("mutation", "createDiscussion", "", "Grant", "discussions: write", "")]
    [InlineData("mutation", "addComment,createCommitOnBranch", "", "Grant", "issues: write", "contents: write")]
    [InlineData("mutation", "addProjectV2ItemById", "", "NotGrantable", null, "")]
    [InlineData("mutation", "deleteRepository", "", "Unknown", null, "")]
    public void GraphQl_IsMappedWithTheHints(string operation, string fields, string repositories, string outcome, string? grant, string alsoNeeded)
    {
        var summary = new GraphQlSummary(operation, fields.Split(','), repositories.Length == 0 ? [] : repositories.Split(','));
        var match = Mapper.Map(GitHubRequest.Create("POST", "api.github.com", "/graphql"), Own, graphQl: summary);
        Assert.True(Enum.Parse<MatchOutcome>(outcome) == match.Outcome, $"{operation} {fields}: {match.Outcome} ({match.Basis})");
        Assert.Equal(grant, match.Outcome == MatchOutcome.Grant ? match.Grant!.ToString() : null);
        Assert.Equal(alsoNeeded, string.Join(",", match.AlsoNeeded));
    }

    [Fact]
    public void GraphQl_WithoutAReadableOperation_IsUnknownNeverAGuess()
    {
        var none = Mapper.Map(GitHubRequest.Create("POST", "api.github.com", "/graphql"), Own);
        Assert.Equal(MatchOutcome.Unknown, none.Outcome);
        var bad = Mapper.Map(GitHubRequest.Create("POST", "api.github.com", "/graphql"), Own, graphQl: new GraphQlSummary(GraphQlSummary.Unknown, [], [], "the query does not parse"));
        Assert.Equal(MatchOutcome.Unknown, bad.Outcome);
        Assert.Contains("does not parse", bad.Basis, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/repos/{owner}/{repo}/contents/{path+}", "/repos/a/b/contents/x/y/z", true, "path=x/y/z")]
    [InlineData("/repos/{owner}/{repo}/contents/{path+}", "/repos/a/b/contents", false, "")]
    [InlineData("/v2/{name+}/manifests/{reference}", "/v2/acme/team/img/manifests/latest", true, "name=acme/team/img,reference=latest")]
    [InlineData("/repos/{owner}/{repo}", "/repos/a/b/c", false, "")]
    [InlineData("/Repos/{owner}", "/repos/a", false, "")]
    public void PathTemplate_MatchesSegments(string template, string path, bool matches, string values)
    {
        var t = PathTemplate.Parse(template);
        Assert.Equal(matches, t.TryMatch(path.Split('/', StringSplitOptions.RemoveEmptyEntries), out var v));
        if (matches)
        {
            Assert.Equal(values, string.Join(",", v.Where(kv => kv.Key is not ("owner" or "repo")).OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")));
        }
    }

    [Theory]
    [InlineData("repos/{owner}")]
    [InlineData("/repos/x{owner}")]
    [InlineData("/repos/{}")]
    public void PathTemplate_RefusesBadTemplates(string template) =>
        Assert.Throws<FormatException>(() => PathTemplate.Parse(template));

    [Fact]
    public void Table_RefusesBadData_WithALine()
    {
        var ex = Assert.Throws<FormatException>(() => PermissionTable.Parse("""
            scopes:
              contents: [read, write]
            rules:
              - method: GET
                host: api.github.com
                path: "/x"
                scope: contents
                level: admin
            """));
        Assert.Contains("line 4", ex.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => PermissionTable.Parse("rules: [ { method: GET"));
    }
}
