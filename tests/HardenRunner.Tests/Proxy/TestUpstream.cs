using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;

namespace HardenRunner.Tests.Proxy;

/// <summary>What an upstream test server saw of one request.</summary>
internal sealed record SeenRequest(
    string Server,
    string Scheme,
    string Protocol,
    string Method,
    string RawTarget,
    string? Sni,
    IReadOnlyDictionary<string, string> Headers,
    long BodyLength,
    IPEndPoint Remote);

/// <summary>
/// A real Kestrel "internet" server on a loopback address: HTTPS (h1 + h2, certificate from the upstream test CA) and
/// plain HTTP, recording every connection and request. Routes: <c>/upload</c> counts the body, <c>/echo</c> streams it back, <c>/download/N</c>
/// sends N bytes, <c>/ws</c> is a WebSocket echo, <c>/trailers</c> answers gRPC-style (h2 trailers); anything else
/// answers <c>upstream:NAME</c>.
/// </summary>
internal sealed class TestUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestUpstream(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    public string Name { get; }

    public IPEndPoint Https { get; private set; } = null!;

    public IPEndPoint Http { get; private set; } = null!;

    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    public int Connections => _connections;

    private int _connections;

    public static async Task<TestUpstream> StartAsync(string name, X509Certificate2 certificate, IPAddress address, int httpsPort = 0, int httpPort = 0)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore();
        builder.Services.AddOptions();
        builder.Services.AddLogging();
        TestUpstream? self = null;
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(address, httpsPort, lo =>
            {
                lo.Protocols = HttpProtocols.Http1AndHttp2;
                lo.Use(next => c =>
                {
                    Interlocked.Increment(ref self!._connections);
                    return next(c);
                });
                var context = System.Net.Security.SslStreamCertificateContext.Create(certificate, null);
                lo.UseHttps(new TlsHandshakeCallbackOptions
                {
                    OnConnection = c =>
                    {
                        c.Connection.Items["sni"] = c.ClientHelloInfo.ServerName;
                        return ValueTask.FromResult(new System.Net.Security.SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = context,
                            ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2, System.Net.Security.SslApplicationProtocol.Http11],
                        });
                    },
                });
            });
            k.Listen(address, httpPort, lo =>
            {
                lo.Protocols = HttpProtocols.Http1;
                lo.Use(next => c =>
                {
                    Interlocked.Increment(ref self!._connections);
                    return next(c);
                });
            });
        });
        var app = builder.Build();
        self = new TestUpstream(name, app);
        app.UseWebSockets();
        app.Run(self.HandleAsync);
        await app.StartAsync();
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a)).ToList();
        self.Https = Endpoint(addresses.Single(u => u.Scheme == "https"));
        self.Http = Endpoint(addresses.Single(u => u.Scheme == "http"));
        return self;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private static IPEndPoint Endpoint(Uri u) => new(IPAddress.Parse(u.Host.Trim('[', ']')), u.Port);

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "/";
        long bodyLength = 0;
        if (path == "/upload")
        {
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await request.Body.ReadAsync(buffer)) > 0)
            {
                bodyLength += n;
            }

            Record(context, bodyLength);
            await context.Response.WriteAsync(bodyLength.ToString(CultureInfo.InvariantCulture));
            return;
        }

        if (path == "/echo")
        {
            context.Response.ContentType = "application/octet-stream";
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await request.Body.ReadAsync(buffer)) > 0)
            {
                bodyLength += n;
                await context.Response.Body.WriteAsync(buffer.AsMemory(0, n));
            }

            Record(context, bodyLength);
            return;
        }

        if (path == "/ws" && context.WebSockets.IsWebSocketRequest)
        {
            Record(context, 0);
            using var ws = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    return;
                }

                await ws.SendAsync(buffer.AsMemory(0, r.Count), r.MessageType, r.EndOfMessage, CancellationToken.None);
            }
        }

        // drain any body so the length is recorded
        var drain = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(drain)) > 0)
        {
            bodyLength += read;
        }

        Record(context, bodyLength);
        if (path.StartsWith("/download/", StringComparison.Ordinal))
        {
            var total = long.Parse(path["/download/".Length..], CultureInfo.InvariantCulture);
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = total;
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < total;)
            {
                var n = (int)Math.Min(chunk.Length, total - sent);
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, n));
                sent += n;
            }

            return;
        }

        if (path == "/trailers")
        {
            context.Response.ContentType = "application/grpc";
            context.Response.DeclareTrailer("grpc-status");
            await context.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 2, 8, 1 });
            context.Response.AppendTrailer("grpc-status", "0");
            context.Response.AppendTrailer("grpc-message", "ok");
            return;
        }

        context.Response.ContentType = "text/plain";
        await context.Response.WriteAsync($"upstream:{Name} {request.Protocol}");
    }

    private void Record(HttpContext context, long bodyLength)
    {
        var headers = context.Request.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value.ToString(), StringComparer.Ordinal);
        Requests.Enqueue(new SeenRequest(
            Name,
            context.Request.Scheme,
            context.Request.Protocol,
            context.Request.Method,
            context.Features.Get<IHttpRequestFeature>()!.RawTarget,
            context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue("sni", out var sni) == true ? sni as string : null,
            headers,
            bodyLength,
            new IPEndPoint(context.Connection.RemoteIpAddress!, context.Connection.RemotePort)));
    }
}
