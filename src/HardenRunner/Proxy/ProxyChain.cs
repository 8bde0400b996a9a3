using System.Net.Security;
using HardenRunner.Proxy.Connection;
using HardenRunner.Proxy.Upstream;
using HardenRunner.Tls;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace HardenRunner.Proxy;

/// <summary>
/// The connection chains, declared in one place. HTTPS port:
/// original destination → ClientHello peek → decision (intercept | splice | reject) → TLS with a certificate minted
/// for the SNI (ALPN h2, http/1.1; an allowed name's upstream connection is opened meanwhile) → HTTP (Kestrel) →
/// <see cref="Http.ProxyRequestHandler"/>.
/// HTTP port: original destination → HTTP/1.1 (Kestrel) → the same request handler, deciding on the Host header.
/// </summary>
internal sealed class ProxyChain(
    OriginalDestinationMiddleware tlsDestination,
    OriginalDestinationMiddleware plainDestination,
    ClientHelloPeekMiddleware peek,
    TlsDecisionMiddleware decision,
    ICertificateAuthority ca,
    UpstreamDialer upstream,
    TimeSpan handshakeTimeout)
{
    private static readonly List<SslApplicationProtocol> Alpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    public void ConfigureHttps(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        listen.Use(tlsDestination.Wrap);
        listen.Use(peek.Wrap);
        listen.Use(decision.Wrap);
        listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            HandshakeTimeout = handshakeTimeout,
            OnConnection = context =>
            {
                // only intercepted connections get here, and they always carry a validated SNI
                var feature = context.Connection.Features.Get<ProxyConnectionFeature>();
                var name = feature?.ServerName ?? throw new InvalidOperationException("an intercepted connection without a server name");
                if (feature.EarlyResolution is not null)
                {
                    // an allowed name whose ClientHello TLS accepted: its upstream connection is opened while the
                    // handshake goes on, when the proxy has none yet (Upstream.EarlyUpstream)
                    feature.EarlyUpstream = upstream.StartEarly(
                        name, feature.OriginalDestination.Port, feature.OriginalDestination.Address, feature.Hello?.OffersHttp2 == true, feature.EarlyResolution);
                }

                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = ca.GetServerContext(name),
                    ApplicationProtocols = Alpn,
                    ClientCertificateRequired = false,
                });
            },
        });
    }

    public void ConfigureHttp(ListenOptions listen)
    {
        listen.Protocols = HttpProtocols.Http1;
        listen.Use(plainDestination.Wrap);
    }
}
