using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// The GitHub call observer inside the real proxy on loopback: one event per request, forwarded or blocked, with the
/// token's kind (never the token) and the GraphQL operation read from a prefix while the whole body streams upstream.
/// </summary>
public sealed class GitHubCallObserverProxyTests
{
    private const string Token = "ghs_ProxyTestInstallationToken0123456789";

    private const string Policy = """
        allowed-endpoints:
          - api.github.com:{http}
          - allowed.test:{http}
        rules:
          - host: api.github.com
            allow:
              - { method: POST, path: "/graphql" }
              - { method: GET, path: "/repos/acme/**" }
        """;

    private static async Task<ProxyHarness> StartAsync()
    {
        var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        h.Resolver.Set("api.github.com", IPAddress.Loopback);
        return h;
    }

    private static HttpRequestMessage Request(HttpMethod method, string url, string? auth, string? body = null) =>
        new(method, url)
        {
            Headers = { Authorization = auth is null ? null : AuthenticationHeaderValue.Parse(auth) },
            Content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json"),
        };

    [Fact]
    public async Task GraphQl_IsSummarisedFromAPrefix_WhileTheWholeBodyReachesGitHub()
    {
        await using var h = await StartAsync();
        using var client = h.Client();
        var body = JsonSerializer.Serialize(new
        {
            query = "mutation { addComment(input: {subjectId: \"I_1\", body: \"x\"}) { clientMutationId } }",
            variables = new { padding = new string('p', 200_000) },
        });
        using var response = await client.SendAsync(Request(HttpMethod.Post, h.Url("api.github.com", "/graphql", tls: false), $"token {Token}", body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var seen = Assert.Single(h.Upstream.Requests, r => r.RawTarget == "/graphql");
        Assert.Equal(Encoding.UTF8.GetByteCount(body), seen.BodyLength);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal(("POST", "/graphql", NetworkEvent.Passed), (e.Method, e.Path, e.Action));
        Assert.Equal(GitHubCall.InstallationToken, e.GitHub!.Token);
        Assert.Equal(200, e.GitHub.Status);
        Assert.Equal("mutation", e.GitHub.GraphQl!.Operation);
        Assert.Equal(["addComment", "addComment.clientMutationId"], e.GitHub.GraphQl.Fields);
        Assert.DoesNotContain("ProxyTestInstallationToken", JsonSerializer.Serialize<object>(h.Events.All.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BlockedAndForwardedCalls_EachGiveExactlyOneEvent()
    {
        await using var h = await StartAsync();
        using var client = h.Client();
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("x-access-token:" + Token));
        using (var ok = await client.SendAsync(Request(HttpMethod.Get, h.Url("api.github.com", "/repos/acme/web/contents/x", tls: false), basic)))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        using (var blocked = await client.SendAsync(Request(HttpMethod.Post, h.Url("api.github.com", "/gists", tls: false), $"Bearer {Token}", "{}")))
        {
            Assert.Equal(HttpStatusCode.Forbidden, blocked.StatusCode);
        }

        using (var anonymous = await client.SendAsync(Request(HttpMethod.Get, h.Url("api.github.com", "/repos/acme/web", tls: false), null)))
        {
            Assert.Equal(HttpStatusCode.OK, anonymous.StatusCode);
        }

        using (var elsewhere = await client.SendAsync(Request(HttpMethod.Get, h.Url("allowed.test", "/x", tls: false), $"token {Token}")))
        {
            Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);
        }

        var events = h.Events.Network;
        Assert.Equal(
            ["GET /repos/acme/web/contents/x passed installation 200", "POST /gists blocked installation 403", "GET /repos/acme/web passed -", "GET /x passed -"],
            events.Select(e => $"{e.Method} {e.Path} {e.Action} {(e.GitHub is { } g ? $"{g.Token} {g.Status}" : "-")}"));
        Assert.Null(events[1].GitHub!.GraphQl);
    }
}
