using System.Text;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Insights.Permissions;

namespace HardenRunner.Tests.Insights;

/// <summary>GraphQL requests reduced to operation type, field paths and repository arguments; bad input never throws.</summary>
public sealed class GraphQlOperationReaderTests
{
    [Theory]
    [InlineData("query { repository(owner: \"acme\", name: \"web\") { issues(first: 5) { nodes { title } } } }", null,
        "query", "repository|repository.issues|repository.issues.nodes", "acme/web")]
    [InlineData("{ viewer { login } }", null, "query", "viewer|viewer.login", "")]
    [InlineData("mutation AddIt($id: ID!) { addComment(input: {subjectId: $id, body: \"hi } { there\"}) { clientMutationId } }", null,
        "mutation", "addComment|addComment.clientMutationId", "")]
    [InlineData("subscription { issueUpdated { id } }", null, "subscription", "issueUpdated|issueUpdated.id", "")]
    [InlineData("{ r: repository(owner: \"a\", name: \"b\") { pr: pullRequest(number: 1) { title } } }", null,
        "query", "repository|repository.pullRequest|repository.pullRequest.title", "a/b")]
    [InlineData("query { repository(owner: \"a\", name: \"b\") { ... on Repository { discussions(first: 1) { totalCount } } } }", null,
        "query", "repository|repository.discussions|repository.discussions.totalCount", "a/b")]
    [InlineData("query Q { repository(owner: \"a\", name: \"b\") { ...F } } fragment F on Repository { labels(first: 3) { nodes { name } } }", null,
        "query", "repository|repository.labels|repository.labels.nodes", "a/b")]
    [InlineData("query A { viewer { login } } mutation B { createIssue(input: {}) { issue { id } } }", "B",
        "mutation", "createIssue|createIssue.issue|createIssue.issue.id", "")]
    [InlineData("# a comment\nquery { repository(owner: \"a\", name: \"b\") { defaultBranchRef { target { oid } } } }", null,
        "query", "repository|repository.defaultBranchRef|repository.defaultBranchRef.target", "a/b")]
    [InlineData("query { a { b { c { d { e } } } } }", null, "query", "a|a.b|a.b.c", "")]
    [InlineData("query { repository(owner: \"../../x\", name: \"y\") { id } }", null, "query", "repository|repository.id", "")]
    public void Query_IsSummarised(string query, string? operationName, string operation, string fields, string repositories)
    {
        var s = GraphQlOperationReader.FromQuery(query, operationName);
        Assert.Null(s.Error);
        Assert.Equal(operation, s.Operation);
        Assert.Equal(fields, string.Join("|", s.Fields));
        Assert.Equal(repositories, string.Join("|", s.Repositories));
    }

    [Theory]
    [InlineData("query A { viewer { id } } query B { viewer { id } }", null, "several operations")]
    [InlineData("query A { viewer { id } }", "C", "no operation named 'C'")]
    [InlineData("query { repository(owner: ", null, "does not parse")]
    [InlineData("fragment F on X { id }", null, "no operation")]
    [InlineData("", null, "no operation")]
    public void BadQuery_GivesAnError_NeverAnException(string query, string? operationName, string error)
    {
        var s = GraphQlOperationReader.FromQuery(query, operationName);
        Assert.Equal(GraphQlSummary.Unknown, s.Operation);
        Assert.Contains(error, s.Error, StringComparison.Ordinal);
        Assert.Empty(s.Fields);
    }

    [Fact]
    public void Body_WithVariables_ResolvesTheRepositoryArguments()
    {
        var body = JsonSerializer.Serialize(new
        {
            query = "query($o: String!, $n: String!) { repository(owner: $o, name: $n) { issues(first: 1) { totalCount } } }",
            variables = new { o = "acme", n = "web" },
        });
        var s = GraphQlOperationReader.FromBody(Encoding.UTF8.GetBytes(body), complete: true);
        Assert.Equal("query", s.Operation);
        Assert.Equal(["acme/web"], s.Repositories);
        Assert.Contains("repository.issues", s.Fields);
    }

    [Fact]
    public void Body_Prefix_IsEnoughWhenTheQueryStringIsComplete()
    {
        var body = "{\"query\":\"mutation { addComment(input: {subjectId: \\\"X\\\", body: \\\"b\\\"}) { clientMutationId } }\",\"variables\":{\"big\":\"" + new string('x', 100) + "\"}}";
        var prefix = Encoding.UTF8.GetBytes(body)[..110];
        var s = GraphQlOperationReader.FromBody(prefix, complete: false);
        Assert.Equal("mutation", s.Operation);
        Assert.Equal(["addComment", "addComment.clientMutationId"], s.Fields);
    }

    [Theory]
    [InlineData("{\"query\":\"query { repository(owner: \\\"a\\\"", false, "not within the first bytes")]
    [InlineData("{\"variables\":{},\"operationName\":null}", true, "no query string")]
    [InlineData("not json", true, "not JSON")]
    [InlineData("[{\"query\":\"{ viewer { id } }\"}]", true, "not a JSON object")]
    [InlineData("{\"query\": 42}", true, "no query string")]
    public void Body_ThatCannotBeRead_GivesAnError(string body, bool complete, string error)
    {
        var s = GraphQlOperationReader.FromBody(Encoding.UTF8.GetBytes(body), complete);
        Assert.Equal(GraphQlSummary.Unknown, s.Operation);
        Assert.Contains(error, s.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void HugeQuery_IsBounded()
    {
        var many = "query { " + string.Join(" ", Enumerable.Range(0, 500).Select(i => $"f{i}")) + " }";
        Assert.Equal(GraphQlSummary.MaxFields, GraphQlOperationReader.FromQuery(many).Fields.Count);
        var deep = "query { " + string.Concat(Enumerable.Repeat("a { ", 1000)) + "b" + string.Concat(Enumerable.Repeat(" }", 1000)) + " }";
        Assert.Equal(GraphQlSummary.Unknown, GraphQlOperationReader.FromQuery(deep).Operation);
        Assert.Equal(GraphQlSummary.Unknown, GraphQlOperationReader.FromQuery(new string('{', GraphQlOperationReader.MaxQueryLength + 1)).Operation);
    }
}
