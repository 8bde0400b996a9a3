using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// Builds the one <see cref="HttpMessageInvoker"/> the forwarder uses for every upstream (its connection pools are shared
/// and reused). It never follows redirects, never decompresses, never stores cookies, ignores proxy environment
/// variables and adds no trace headers; its connections come from <see cref="UpstreamConnector"/>.
/// </summary>
internal static class UpstreamClientFactory
{
    /// <summary>The client's original destination address, set per request by the transformer.</summary>
    public static readonly HttpRequestOptionsKey<IPAddress> PreferredAddress = new("HardenRunner.PreferredAddress");

    /// <summary>The name's addresses asked for during the client's handshake (a connection's first request only).</summary>
    public static readonly HttpRequestOptionsKey<EarlyResolution> EarlyAddresses = new("HardenRunner.EarlyAddresses");

    public static HttpMessageInvoker Create(UpstreamConnector connector, UpstreamCertificateValidator validator, TimeSpan connectTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectTimeout = connectTimeout + TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = validator.Validate,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            },
            ConnectCallback = async (context, cancellationToken) =>
            {
                context.InitialRequestMessage.Options.TryGetValue(PreferredAddress, out var preferred);
                context.InitialRequestMessage.Options.TryGetValue(EarlyAddresses, out var early);
                var socket = await connector.ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, preferred, early, cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }
}
