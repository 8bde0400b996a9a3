using System.Net;
using HardenRunner.Lab.Contract;
using HardenRunner.LabInternet.Logging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace HardenRunner.LabInternet.Web;

/// <summary>Kestrel on every server address: HTTP on the HTTP port, HTTPS (HTTP/1.1 + HTTP/2, per-SNI certs).</summary>
internal sealed class LabWebServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly CertificateStore _certificates;

    private LabWebServer(WebApplication app, CertificateStore certificates)
    {
        _app = app;
        _certificates = certificates;
    }

    public static async Task<LabWebServer> StartAsync(
        LabInternetConfig config, ServerDirectory servers, JsonLineWriter log, CancellationToken cancellationToken)
    {
        var certificates = new CertificateStore(servers);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = null;
            foreach (var server in config.Servers)
            {
                foreach (var text in server.Addresses)
                {
                    var address = IPAddress.Parse(text);
                    kestrel.Listen(address, config.HttpPort, listen => listen.Protocols = HttpProtocols.Http1);
                    kestrel.Listen(address, config.HttpsPort, listen =>
                    {
                        listen.Protocols = HttpProtocols.Http1AndHttp2;
                        listen.UseHttps(https => https.ServerCertificateSelector =
                            (connection, sni) => certificates.Select(
                                (connection?.LocalEndPoint as IPEndPoint)?.Address, sni));
                    });
                }
            }
        });

        var app = builder.Build();
        var handler = new RequestHandler(servers, log, config.StaticRoot);
        app.Run(handler.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch
        {
            await app.DisposeAsync();
            certificates.Dispose();
            throw;
        }

        return new LabWebServer(app, certificates);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        _certificates.Dispose();
    }
}
