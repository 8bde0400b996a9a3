using System.Globalization;
using System.Text;
using HardenRunner.Lab.Contract;
using HardenRunner.LabInternet.Logging;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace HardenRunner.LabInternet.Web;

/// <summary>
/// Logs every request (before answering) and answers:
/// <c>/download/{bytes}</c> streams that many bytes; <c>/echo</c> returns the request body;
/// <c>/status/{code}</c> answers with that status; anything else is 200 <c>lab:{server}</c>. Authenticated requests to
/// <c>api.github.com</c> get the fake GitHub API (<see cref="FakeGitHubApi"/>).
/// </summary>
internal sealed class RequestHandler(ServerDirectory servers, JsonLineWriter log, string staticRoot)
{
    private const long MaxDownload = 1L << 30;
    private const int MaxEcho = 64 << 20;
    private static readonly byte[] DownloadChunk = CreateChunk();

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var aborted = context.RequestAborted;
        var connection = context.Connection;
        var server = servers.NameOf(connection.LocalIpAddress);
        var path = request.Path.Value ?? "/";
        var echo = path.Equals("/echo", StringComparison.OrdinalIgnoreCase);

        var payload = new Payload();
        using var echoBody = echo ? new MemoryStream() : null;
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, aborted)) > 0)
        {
            payload.Add(buffer.AsSpan(0, read));
            if (echoBody is not null && echoBody.Length + read <= MaxEcho)
            {
                echoBody.Write(buffer, 0, read);
            }
        }

        var sni = context.Features.Get<ITlsHandshakeFeature>()?.HostName;
        log.Write(new HttpRequestRecord(
            DateTimeOffset.UtcNow,
            server,
            request.Scheme,
            Payload.Format(connection.LocalIpAddress!),
            connection.LocalPort,
            Payload.Format(connection.RemoteIpAddress!),
            connection.RemotePort,
            string.IsNullOrEmpty(sni) ? null : sni,
            request.Host.Value ?? "",
            request.Method,
            path,
            context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? path,
            request.Protocol,
            request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal),
            payload.Length,
            payload.PreviewText,
            payload.PreviewBase64));

        response.Headers["X-Lab-Server"] = server;
        if (FakeGitHubApi.Handles(server, request))
        {
            await FakeGitHubApi.AnswerAsync(context, aborted);
            return;
        }

        if (echoBody is not null)
        {
            response.ContentType = request.ContentType ?? "application/octet-stream";
            response.ContentLength = echoBody.Length;
            echoBody.Position = 0;
            await echoBody.CopyToAsync(response.Body, aborted);
            return;
        }

        if (TryTail(path, "/download/", out var sizeText))
        {
            if (!long.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size > MaxDownload)
            {
                await WriteTextAsync(response, StatusCodes.Status400BadRequest, $"lab:{server} bad size (0..{MaxDownload})\n", aborted);
                return;
            }

            response.ContentType = "application/octet-stream";
            response.ContentLength = size;
            for (var left = size; left > 0; left -= DownloadChunk.Length)
            {
                await response.Body.WriteAsync(DownloadChunk.AsMemory(0, (int)Math.Min(left, DownloadChunk.Length)), aborted);
            }

            return;
        }

        if (TryTail(path, "/status/", out var codeText)
            && int.TryParse(codeText, NumberStyles.None, CultureInfo.InvariantCulture, out var code)
            && code is >= 200 and <= 599)
        {
            await WriteTextAsync(response, code, $"lab:{server} status {code}\n", aborted);
            return;
        }

        if (path.StartsWith("/git/", StringComparison.Ordinal) && staticRoot.Length > 0)
        {
            // a dumb-HTTP git remote: files under the static root, never outside it
            var root = Path.GetFullPath(staticRoot);
            var file = Path.GetFullPath(Path.Combine(root, path.TrimStart('/')));
            if (!file.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(file))
            {
                await WriteTextAsync(response, StatusCodes.Status404NotFound, $"lab:{server} not found\n", aborted);
                return;
            }

            response.ContentType = "application/octet-stream";
            await response.SendFileAsync(file, aborted);
            return;
        }

        await WriteTextAsync(response, StatusCodes.Status200OK, $"lab:{server}\n", aborted);
    }

    private static async Task WriteTextAsync(HttpResponse response, int status, string text, CancellationToken aborted)
    {
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        if (status is StatusCodes.Status204NoContent or StatusCodes.Status304NotModified)
        {
            return;
        }

        var bytes = Encoding.UTF8.GetBytes(text);
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes, aborted);
    }

    private static bool TryTail(string path, string prefix, out string tail)
    {
        tail = path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? path[prefix.Length..] : "";
        return tail.Length > 0;
    }

    private static byte[] CreateChunk()
    {
        var chunk = new byte[64 * 1024];
        for (var i = 0; i < chunk.Length; i++)
        {
            chunk[i] = (byte)('a' + (i % 26));
        }

        return chunk;
    }
}
