using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// Opens the proxy's upstream connections, TLS included: the forwarder's handler gets an authenticated
/// <see cref="SslStream"/> from its connect callback and does no TLS of its own (it reads the ALPN result to choose
/// HTTP/2 or HTTP/1.1). Doing TLS here lets a connection be opened before the request that will use it
/// (<see cref="StartEarly"/>). The handshake is the one the handler would make: the name as SNI (none for an address
/// literal), ALPN h2 and http/1.1 for an HTTP/2 request and http/1.1 alone otherwise, the certificate checked by
/// <see cref="UpstreamCertificateValidator"/>, no revocation check. It also counts the open TLS connections per name
/// and port, so that an early connection is only opened where the handler has none to reuse.
/// </summary>
internal sealed class UpstreamDialer(UpstreamConnector connector, UpstreamCertificateValidator validator, TimeSpan earlyTimeout)
{
    private static readonly List<SslApplicationProtocol> Http2AndHttp11 = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];
    private static readonly List<SslApplicationProtocol> Http11Only = [SslApplicationProtocol.Http11];

    private readonly Dictionary<string, int> _open = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _earlyStarted;

    /// <summary>How many early connections were started.</summary>
    public long EarlyStarted => Interlocked.Read(ref _earlyStarted);

    /// <summary>Open (or opening) TLS connections to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public int OpenConnections(string host, int port)
    {
        lock (_gate)
        {
            return _open.GetValueOrDefault(Key(host, port));
        }
    }

    /// <summary>The handler's connect callback: plain TCP for http, TCP and TLS for https (an early connection when the request carries one).</summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var request = context.InitialRequestMessage;
        var host = context.DnsEndPoint.Host;
        var port = context.DnsEndPoint.Port;
        request.Options.TryGetValue(UpstreamClientFactory.PreferredAddress, out var preferred);
        request.Options.TryGetValue(UpstreamClientFactory.EarlyAddresses, out var early);
        if (!string.Equals(request.RequestUri?.Scheme, Uri.UriSchemeHttps, StringComparison.OrdinalIgnoreCase))
        {
            var plain = await connector.ConnectAsync(host, port, preferred, early, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(plain, ownsSocket: true);
        }

        var offerHttp2 = request.Version.Major >= 2;
        if (request.Options.TryGetValue(UpstreamClientFactory.EarlyConnection, out var ready)
            && ready.TryClaim(host, port, offerHttp2) is { } claimed)
        {
            return await EarlyUpstream.AwaitClaimAsync(claimed, cancellationToken).ConfigureAwait(false);
        }

        return await OpenAsync(host, port, preferred, early, offerHttp2, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens a connection to <paramref name="host"/>:<paramref name="port"/> now, for the first request of a client
    /// connection whose handshake is still running; null when the proxy already has a connection to that name and port
    /// open or opening (the handler reuses it) or the host is an address literal.
    /// </summary>
    public EarlyUpstream? StartEarly(string host, int port, IPAddress? preferred, bool offerHttp2, EarlyResolution? addresses)
    {
        if (AddressLiteral.TryParse(host, out _))
        {
            return null;
        }

        var key = Key(host, port);
        lock (_gate)
        {
            if (_open.ContainsKey(key))
            {
                return null;
            }

            _open[key] = 1;
        }

        Interlocked.Increment(ref _earlyStarted);
        var connection = OpenCountedAsync(host, port, key, preferred, addresses, offerHttp2, earlyTimeout);
        return new EarlyUpstream(host, port, offerHttp2, connection);
    }

    private async Task<SslStream> OpenAsync(string host, int port, IPAddress? preferred, EarlyResolution? addresses, bool offerHttp2, CancellationToken cancellationToken)
    {
        var key = Key(host, port);
        lock (_gate)
        {
            _open[key] = _open.GetValueOrDefault(key) + 1;
        }

        return await OpenCountedAsync(host, port, key, preferred, addresses, offerHttp2, cancellationToken).ConfigureAwait(false);
    }

    private async Task<SslStream> OpenCountedAsync(string host, int port, string key, IPAddress? preferred, EarlyResolution? addresses, bool offerHttp2, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        return await OpenCountedAsync(host, port, key, preferred, addresses, offerHttp2, cancel.Token).ConfigureAwait(false);
    }

    /// <summary>Connects and authenticates; the count for <paramref name="key"/> (already taken) is given back when the stream closes or the attempt fails.</summary>
    private async Task<SslStream> OpenCountedAsync(string host, int port, string key, IPAddress? preferred, EarlyResolution? addresses, bool offerHttp2, CancellationToken cancellationToken)
    {
        SslStream? stream = null;
        try
        {
            var socket = await connector.ConnectAsync(host, port, preferred, addresses, cancellationToken).ConfigureAwait(false);
            stream = new CountedSslStream(new NetworkStream(socket, ownsSocket: true), () => Release(key));
            await stream.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = AddressLiteral.TryParse(host, out var literal) ? literal.ToString() : host,
                    ApplicationProtocols = offerHttp2 ? Http2AndHttp11 : Http11Only,
                    RemoteCertificateValidationCallback = validator.Validate,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                },
                cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch
        {
            if (stream is null)
            {
                Release(key);
            }
            else
            {
                await stream.DisposeAsync().ConfigureAwait(false); // gives the count back
            }

            throw;
        }
    }

    private void Release(string key)
    {
        lock (_gate)
        {
            if (_open.TryGetValue(key, out var n))
            {
                if (n <= 1)
                {
                    _open.Remove(key);
                }
                else
                {
                    _open[key] = n - 1;
                }
            }
        }
    }

    private static string Key(string host, int port) => string.Concat(host.ToLowerInvariant(), ":", port.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>An upstream TLS stream that reports its closing once (the handler closes idle and failed connections).</summary>
    private sealed class CountedSslStream(Stream inner, Action closed) : SslStream(inner, leaveInnerStreamOpen: false)
    {
        private int _closed;

        protected override void Dispose(bool disposing)
        {
            try
            {
                base.Dispose(disposing);
            }
            finally
            {
                if (Interlocked.Exchange(ref _closed, 1) == 0)
                {
                    closed();
                }
            }
        }

        public override async ValueTask DisposeAsync()
        {
            try
            {
                await base.DisposeAsync().ConfigureAwait(false);
            }
            finally
            {
                if (Interlocked.Exchange(ref _closed, 1) == 0)
                {
                    closed();
                }
            }
        }
    }
}
