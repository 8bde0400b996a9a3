using System.Net;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// Builds the one <see cref="HttpMessageInvoker"/> the forwarder uses for every upstream (its connection pools are shared
/// and reused). It never follows redirects, never decompresses, never stores cookies, ignores proxy environment
/// variables and adds no trace headers; its connections, TLS included, come from <see cref="UpstreamDialer"/>.
/// </summary>
internal static class UpstreamClientFactory
{
    /// <summary>The client's original destination address, set per request by the transformer.</summary>
    public static readonly HttpRequestOptionsKey<IPAddress> PreferredAddress = new("HardenRunner.PreferredAddress");

    /// <summary>The name's addresses asked for during the client's handshake (a connection's first request only).</summary>
    public static readonly HttpRequestOptionsKey<EarlyResolution> EarlyAddresses = new("HardenRunner.EarlyAddresses");

    /// <summary>The upstream connection opened during the client's handshake (a connection's first request only).</summary>
    public static readonly HttpRequestOptionsKey<EarlyUpstream> EarlyConnection = new("HardenRunner.EarlyConnection");

    public static HttpMessageInvoker Create(UpstreamDialer dialer, TimeSpan connectTimeout)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            // connect and TLS handshake (both in the dialer: the handler uses the SslStream it returns as it is)
            ConnectTimeout = connectTimeout + TimeSpan.FromSeconds(5),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            ConnectCallback = dialer.ConnectAsync,
        };
        return new HttpMessageInvoker(handler, disposeHandler: true);
    }
}
