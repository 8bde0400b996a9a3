using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace HardenRunner.LabInternet.Web;

/// <summary>
/// The lab's <c>api.github.com</c> for requests that carry <c>Authorization</c> (unauthenticated requests keep the
/// plain <c>lab:</c> answer): enough of the REST and GraphQL API for a job using GITHUB_TOKEN, answering like GitHub
/// with JSON and the <c>X-Accepted-GitHub-Permissions</c> header GitHub sends to App (installation token) callers.
/// <list type="bullet">
/// <item><c>GET /repos/{o}/{r}/contents/{path}</c> → 200 a file object; header <c>contents=read</c>.</item>
/// <item><c>POST /repos/{o}/{r}/issues/{n}/comments</c> → 201 a comment; header <c>issues=write; pull_requests=write</c>.</item>
/// <item><c>POST /graphql</c> → 200 <c>{"data":{…}}</c> (no header: GitHub sends it for REST only).</item>
/// <item>anything else → 404 <c>{"message":"Not Found"}</c>.</item>
/// </list>
/// </summary>
internal static class FakeGitHubApi
{
    public const string ServerName = "api.github.com";

    public static bool Handles(string server, HttpRequest request) =>
        server == ServerName && request.Headers.Authorization.Count > 0;

    public static async Task AnswerAsync(HttpContext context, CancellationToken aborted)
    {
        var request = context.Request;
        var response = context.Response;
        var segments = (request.Path.Value ?? "/").Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (HttpMethods.IsGet(request.Method) && segments.Length >= 5 && segments[0] == "repos" && segments[3] == "contents")
        {
            var path = string.Join('/', segments[4..]);
            response.Headers["X-Accepted-GitHub-Permissions"] = "contents=read";
            await JsonAsync(response, StatusCodes.Status200OK, new
            {
                type = "file",
                name = segments[^1],
                path,
                content = Convert.ToBase64String(Encoding.UTF8.GetBytes($"lab file {path}\n")),
                encoding = "base64",
            }, aborted);
            return;
        }

        if (HttpMethods.IsPost(request.Method) && segments.Length == 6 && segments[0] == "repos" && segments[3] == "issues" && segments[5] == "comments")
        {
            response.Headers["X-Accepted-GitHub-Permissions"] = "issues=write; pull_requests=write";
            await JsonAsync(response, StatusCodes.Status201Created, new { id = 1, html_url = $"https://github.com/{segments[1]}/{segments[2]}/issues/{segments[4]}#issuecomment-1" }, aborted);
            return;
        }

        if (HttpMethods.IsPost(request.Method) && segments is ["graphql"])
        {
            await JsonAsync(response, StatusCodes.Status200OK, new { data = new { lab = true } }, aborted);
            return;
        }

        await JsonAsync(response, StatusCodes.Status404NotFound, new { message = "Not Found" }, aborted);
    }

    private static async Task JsonAsync(HttpResponse response, int status, object body, CancellationToken aborted)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes, aborted);
    }
}
