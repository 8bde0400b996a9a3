using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// A proxy under test on 127.0.0.1 (ephemeral ports), a real upstream Kestrel server with its own CA (passed to the
/// proxy as an extra root), a fake original-destination reader, a static resolver, recorded events, marked sockets
/// and every log line. Clients connect to the proxy port and register where they "were going".
/// </summary>
internal sealed class ProxyHarness : IAsyncDisposable
{
    /// <summary>Names the upstream certificate covers.</summary>
    public static readonly string[] UpstreamNames = ["allowed.test", "*.allowed.test", "api.test", "pinned.test", "other.test", "open.test"];

    private readonly List<TestUpstream> _extraUpstreams = [];
    private readonly ILoggerFactory _loggerFactory;

    private ProxyHarness(TransparentProxy proxy, TestUpstream upstream, TestCa proxyCa, TestCa upstreamCa, FakeDestinations destinations, StaticResolver resolver, ProxyEvents events, CapturingLoggerProvider logs, ConcurrentQueue<Socket> marked, ILoggerFactory loggerFactory, EgressMode mode)
    {
        Proxy = proxy;
        Upstream = upstream;
        ProxyCa = proxyCa;
        UpstreamCa = upstreamCa;
        Destinations = destinations;
        Resolver = resolver;
        Events = events;
        Logs = logs;
        Marked = marked;
        _loggerFactory = loggerFactory;
        Mode = mode;
    }

    public TransparentProxy Proxy { get; }

    public TestUpstream Upstream { get; }

    public TestCa ProxyCa { get; }

    public TestCa UpstreamCa { get; }

    public FakeDestinations Destinations { get; }

    public StaticResolver Resolver { get; }

    public ProxyEvents Events { get; }

    public CapturingLoggerProvider Logs { get; }

    public ConcurrentQueue<Socket> Marked { get; }

    public EgressMode Mode { get; }

    /// <summary>The upstream's HTTPS endpoint: where an HTTPS client "was going".</summary>
    public IPEndPoint HttpsTarget => Upstream.Https;

    public IPEndPoint HttpTarget => Upstream.Http;

    /// <summary>
    /// Starts upstream and proxy. <paramref name="policyBody"/> may use {https} and {http} for the upstream's ports.
    /// </summary>
    public static async Task<ProxyHarness> StartAsync(string policyBody, EgressMode mode, Func<ProxyOptions, ProxyOptions>? configure = null)
    {
        var upstreamCa = new TestCa("Upstream Test Root");
        var proxyCa = new TestCa("Proxy Test Ephemeral CA");
        var upstream = await TestUpstream.StartAsync("main", upstreamCa.Issue(UpstreamNames), IPAddress.Loopback);
        var yaml = $"egress-policy: {(mode == EgressMode.Block ? "block" : "audit")}\n" +
                   policyBody.Replace("{https}", upstream.Https.Port.ToString(), StringComparison.Ordinal)
                             .Replace("{http}", upstream.Http.Port.ToString(), StringComparison.Ordinal);
        var load = PolicyLoader.Parse(yaml, "proxy-test.yml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        var destinations = new FakeDestinations();
        var resolver = new StaticResolver();
        foreach (var n in UpstreamNames.Where(n => !n.StartsWith('*')))
        {
            resolver.Set(n, IPAddress.Loopback);
        }

        resolver.Set("www.allowed.test", IPAddress.Loopback).Set("nocert.test", IPAddress.Loopback).Set("denied.test", IPAddress.Loopback);
        var events = new ProxyEvents();
        var logs = new CapturingLoggerProvider();
        var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var marked = new ConcurrentQueue<Socket>();
        var options = new ProxyOptions
        {
            HttpsPort = 0,
            HttpPort = 0,
            ListenAddress = IPAddress.Loopback,
            UpstreamRoots = [upstreamCa.Certificate],
            ConfigureUpstreamSocket = s => marked.Enqueue(s),
            OriginalDestination = destinations,
            ClientHelloTimeout = TimeSpan.FromSeconds(3),
            UpstreamConnectTimeout = TimeSpan.FromSeconds(3),
        };
        options = configure?.Invoke(options) ?? options;
        var active = new ActivePolicy(new PolicyEngine(load.Policy!));
        var proxy = new TransparentProxy(options, active, proxyCa, resolver, events, loggerFactory);
        await proxy.StartAsync(CancellationToken.None);
        return new ProxyHarness(proxy, upstream, proxyCa, upstreamCa, destinations, resolver, events, logs, marked, loggerFactory, mode) { Policy = active };
    }

    /// <summary>The policy the proxy decides with; tests switch it in place.</summary>
    public ActivePolicy Policy { get; private init; } = null!;

    /// <summary>An engine for <paramref name="policyBody"/> (with {https} and {http} as in <see cref="StartAsync"/>) in <paramref name="mode"/>.</summary>
    public PolicyEngine Engine(string policyBody, EgressMode mode)
    {
        var yaml = $"egress-policy: {(mode == EgressMode.Block ? "block" : "audit")}\n" +
                   policyBody.Replace("{https}", Upstream.Https.Port.ToString(), StringComparison.Ordinal)
                             .Replace("{http}", Upstream.Http.Port.ToString(), StringComparison.Ordinal);
        var load = PolicyLoader.Parse(yaml, "proxy-test.yml");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics));
        return new PolicyEngine(load.Policy!);
    }

    /// <summary>Another upstream server (e.g. the "attacker") on <paramref name="address"/> with the same ports as the main one.</summary>
    public async Task<TestUpstream> AddUpstreamAsync(string name, IPAddress address)
    {
        var u = await TestUpstream.StartAsync(name, UpstreamCa.Issue(UpstreamNames), address, Upstream.Https.Port, Upstream.Http.Port);
        _extraUpstreams.Add(u);
        return u;
    }

    /// <summary>
    /// An HttpClient whose every connection goes to the proxy (HTTPS or HTTP port by scheme), registered as going to
    /// <paramref name="destination"/> (default: the main upstream's endpoint for the scheme). It trusts only the proxy's CA.
    /// </summary>
    public HttpClient Client(Version? version = null, IPEndPoint? destination = null, HttpVersionPolicy policy = HttpVersionPolicy.RequestVersionExact) =>
        new(Handler(destination))
        {
            DefaultRequestVersion = version ?? HttpVersion.Version11,
            DefaultVersionPolicy = policy,
            Timeout = TimeSpan.FromSeconds(60),
        };

    /// <summary>The client handler behind <see cref="Client"/>.</summary>
    public SocketsHttpHandler Handler(IPEndPoint? destination = null, AddressFamily family = AddressFamily.InterNetwork) =>
        new()
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ProxyCa.Trust() },
            ConnectCallback = async (ctx, ct) =>
            {
                var tls = ctx.InitialRequestMessage.RequestUri!.Scheme is "https" or "wss";
                var socket = await ConnectAsync(tls, destination ?? (tls ? HttpsTarget : HttpTarget), ct, family);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };

    /// <summary>
    /// A client that does its own TLS to the proxy with <paramref name="sni"/> (ALPN for <paramref name="version"/>) and
    /// then speaks HTTP over it whatever Host the request carries (.NET would otherwise send the Host as SNI). Use
    /// <see cref="PlainUrl"/> URLs with it.
    /// </summary>
    public HttpClient TlsClient(string sni, Version version, IPEndPoint? destination = null) =>
        new(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            ConnectCallback = async (ctx, ct) =>
            {
                var socket = await ConnectAsync(true, destination ?? HttpsTarget, ct);
                var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), false, ProxyCa.Trust());
                await ssl.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = sni,
                        ApplicationProtocols = [version.Major == 2 ? SslApplicationProtocol.Http2 : SslApplicationProtocol.Http11],
                    },
                    ct);
                return ssl;
            },
        })
        {
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = TimeSpan.FromSeconds(30),
        };

    /// <summary>A TLS connection through the proxy with the given SNI and ALPN, for raw protocol tests.</summary>
    public async Task<SslStream> TlsAsync(string sni, SslApplicationProtocol alpn, IPEndPoint? destination = null)
    {
        var socket = await ConnectAsync(true, destination ?? HttpsTarget);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true), false, ProxyCa.Trust());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni, ApplicationProtocols = [alpn] });
        return ssl;
    }

    /// <summary>An http:// URL on the HTTPS target's port, for <see cref="TlsClient"/>.</summary>
    public string PlainUrl(string host, string path = "/") => $"http://{host}:{HttpsTarget.Port}{path}";

    /// <summary>URL of the main upstream under a name, as a client would write it.</summary>
    public string Url(string host, string path = "/", bool tls = true) => $"{(tls ? "https" : "http")}://{host}:{(tls ? HttpsTarget : HttpTarget).Port}{path}";

    /// <summary>A TCP connection to the proxy's HTTPS (or HTTP) port that the fake reader reports as going to <paramref name="destination"/>.</summary>
    public async Task<Socket> ConnectAsync(bool tls, IPEndPoint destination, CancellationToken cancellationToken = default, AddressFamily family = AddressFamily.InterNetwork)
    {
        var loopback = family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Bind(new IPEndPoint(loopback, 0));
        Destinations.Register(((IPEndPoint)socket.LocalEndPoint!).Port, destination);
        var proxyEndpoint = tls ? Proxy.HttpsEndpoint : Proxy.HttpEndpoint;
        await socket.ConnectAsync(new IPEndPoint(loopback, proxyEndpoint.Port), cancellationToken);
        return socket;
    }

    /// <summary>Sends raw bytes and reads until the proxy closes (or the timeout); returns what came back and how it ended.</summary>
    public async Task<Exchange> ExchangeAsync(bool tls, IPEndPoint destination, byte[] payload, TimeSpan timeout, bool halfClose = true)
    {
        using var cts = new CancellationTokenSource(timeout);
        using var socket = await ConnectAsync(tls, destination, cts.Token);
        var received = new MemoryStream();
        try
        {
            await socket.SendAsync(payload, SocketFlags.None, cts.Token);
            if (halfClose)
            {
                socket.Shutdown(SocketShutdown.Send);
            }

            var buffer = new byte[16 * 1024];
            while (true)
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                if (n == 0)
                {
                    return new Exchange(received.ToArray(), Closed: true);
                }

                received.Write(buffer, 0, n);
            }
        }
        catch (SocketException)
        {
            return new Exchange(received.ToArray(), Closed: true); // reset
        }
        catch (OperationCanceledException)
        {
            return new Exchange(received.ToArray(), Closed: false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
        foreach (var u in _extraUpstreams)
        {
            await u.DisposeAsync();
        }

        _loggerFactory.Dispose();
        ProxyCa.Dispose();
        UpstreamCa.Dispose();
    }
}

/// <summary>What a raw exchange got back; <see cref="Closed"/> is false when the proxy kept the connection open until the timeout.</summary>
internal sealed record Exchange(byte[] Data, bool Closed)
{
    public string Text => System.Text.Encoding.Latin1.GetString(Data);
}
