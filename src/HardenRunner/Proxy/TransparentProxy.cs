using System.Net;
using HardenRunner.Events;
using HardenRunner.Monitoring.Network;
using HardenRunner.Policy;
using HardenRunner.Proxy.Connection;
using HardenRunner.Proxy.Events;
using HardenRunner.Proxy.Http;
using HardenRunner.Proxy.Upstream;
using HardenRunner.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace HardenRunner.Proxy;

/// <summary>
/// The transparent TLS-intercepting proxy: takes the TCP 443 and 80 flows the firewall redirects to it, decides on the
/// TLS server name, the Host, the method and the path (<see cref="PolicyEngine"/>), and forwards what is allowed (or,
/// in audit mode, everything it can) to the address the appliance resolved itself for that name, on marked sockets.
/// Hosts Kestrel with an empty configuration (nothing is read from files or the environment).
/// </summary>
public sealed partial class TransparentProxy : IAsyncDisposable
{
    private const string DisableBareLineFeedsSwitch = "Microsoft.AspNetCore.Server.Kestrel.DisableHttp1LineFeedTerminators";

    private readonly ProxyOptions _options;
    private readonly ActivePolicy _policy;
    private readonly ICertificateAuthority _ca;
    private readonly IUpstreamResolver _resolver;
    private readonly IEventSink _events;
    private readonly ILoggerFactory _loggers;
    private readonly UpstreamConnector _connector;
    private readonly UpstreamDialer _dialer;
    private readonly HttpMessageInvoker _invoker;
    private readonly AttributionQueue? _attribution;
    private WebApplication? _app;
    private List<IPEndPoint> _endpoints = [];
    private int _state; // 0 new, 1 started, 2 disposed

    public TransparentProxy(ProxyOptions options, PolicyEngine policy, ICertificateAuthority ca, IUpstreamResolver resolver, IEventSink events, ILoggerFactory? loggers = null)
        : this(options, new ActivePolicy(policy ?? throw new ArgumentNullException(nameof(policy))), ca, resolver, events, loggers)
    {
    }

    /// <summary>
    /// A proxy that decides every connection and request with the policy in force in <paramref name="policy"/> (its
    /// egress mode included), so the policy can be switched while it runs.
    /// </summary>
    public TransparentProxy(ProxyOptions options, ActivePolicy policy, ICertificateAuthority ca, IUpstreamResolver resolver, IEventSink events, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(resolver);
        ArgumentNullException.ThrowIfNull(events);
        options.Validate();
        _options = options;
        _policy = policy;
        _ca = ca;
        _resolver = resolver;
        _events = events;
        _loggers = ProxyLoggerFactory.Wrap(loggers);
        _connector = new UpstreamConnector(resolver, options.ConfigureUpstreamSocket, options.UpstreamSourcePorts, options.UpstreamConnectTimeout);
        _dialer = new UpstreamDialer(_connector, new UpstreamCertificateValidator(options.UpstreamRoots), options.UpstreamConnectTimeout + TimeSpan.FromSeconds(5));
        _invoker = UpstreamClientFactory.Create(_dialer, options.UpstreamConnectTimeout);
        _attribution = options.Attributor is { } attributor ? new AttributionQueue(attributor, "proxy") : null;
    }

    /// <summary>The bound endpoints once started: the HTTPS listener first, then the HTTP listener.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndpoints => _endpoints;

    /// <summary>The HTTPS listener's endpoint once started.</summary>
    public IPEndPoint HttpsEndpoint => _endpoints.Count == 2 ? _endpoints[0] : throw new InvalidOperationException("the proxy is not started");

    /// <summary>The HTTP listener's endpoint once started.</summary>
    public IPEndPoint HttpEndpoint => _endpoints.Count == 2 ? _endpoints[1] : throw new InvalidOperationException("the proxy is not started");

    /// <summary>How many upstream connections were opened during a client's TLS handshake (Upstream.EarlyUpstream).</summary>
    internal long EarlyUpstreamConnections => _dialer.EarlyStarted;

    /// <summary>The proxy's open (or opening) upstream TLS connections to <paramref name="host"/>:<paramref name="port"/>.</summary>
    internal int OpenUpstreamConnections(string host, int port) => _dialer.OpenConnections(host, port);

    /// <summary>The per-connection process lookups (null without an attributor).</summary>
    public AttributionQueue? Attribution => _attribution;

    /// <summary>Binds both ports and starts accepting. Throws (and leaves nothing listening) when a port cannot be bound.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
        {
            throw new InvalidOperationException("the proxy was already started or disposed");
        }

        var log = _loggers.CreateLogger("HardenRunner.Proxy");
        // GitHub calls with a credential get their token kind, accepted permissions and GraphQL operation (docs/insights.md)
        var gitHubCalls = new GitHub.GitHubCallObserver(_events, Insights.Permissions.PermissionTable.Default);
        var recorder = new ProxyEventRecorder(gitHubCalls, TimeProvider.System);
        var destinationCheck = new DestinationCheck(_resolver, recorder);
        var chain = new ProxyChain(
            new OriginalDestinationMiddleware(_options.OriginalDestination, isTls: true, recorder, _attribution, _options.AttributionWait, log),
            new OriginalDestinationMiddleware(_options.OriginalDestination, isTls: false, recorder, _attribution, _options.AttributionWait, log),
            new ClientHelloPeekMiddleware(_options.ClientHelloTimeout),
            new TlsDecisionMiddleware(_policy, recorder, new Splicer(_connector, destinationCheck, log), _resolver, log),
            _ca,
            _dialer,
            _options.TlsHandshakeTimeout);

        // A bare LF as a line terminator is refused (400), never reinterpreted: the request framing the proxy checked
        // must be the only possible one. Kestrel reads this switch per server when it starts.
        AppContext.SetSwitch(DisableBareLineFeedsSwitch, true);

        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = "HardenRunner.Proxy",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Services.AddSingleton(_loggers);
        builder.Services.AddHttpForwarder();
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = null; // bodies are streamed, never buffered
            Listen(k, _options.HttpsPort, chain.ConfigureHttps);
            Listen(k, _options.HttpPort, chain.ConfigureHttp);
        });

        var app = builder.Build();
        var handler = new ProxyRequestHandler(_policy, app.Services.GetRequiredService<IHttpForwarder>(), _invoker, recorder, destinationCheck, _options.UpstreamActivityTimeout, log);
        app.Use(gitHubCalls.InvokeAsync);
        app.Run(handler.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _app = app;
        _endpoints = BoundEndpoints(app);
        LogStarted(log, string.Join(", ", _endpoints), _policy.Current.Mode.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
        {
            return;
        }

        if (_app is { } app)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await app.StopAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // connections still open after the grace period are aborted by DisposeAsync
            }

            await app.DisposeAsync().ConfigureAwait(false);
        }

        // events of the last connections are published once their lookups end: before the sinks close
        _attribution?.Dispose();
        _invoker.Dispose();
    }

    private void Listen(KestrelServerOptions kestrel, int port, Action<ListenOptions> configure)
    {
        if (_options.ListenAddress.Equals(IPAddress.IPv6Any))
        {
            kestrel.ListenAnyIP(port, configure); // dual-mode [::], or 0.0.0.0 where IPv6 is off
        }
        else
        {
            kestrel.Listen(_options.ListenAddress, port, configure);
        }
    }

    private static List<IPEndPoint> BoundEndpoints(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var result = new List<IPEndPoint>();
        foreach (var a in addresses)
        {
            var uri = new Uri(a);
            var host = uri.Host.Trim('[', ']');
            var address = IPAddress.TryParse(host, out var ip) ? ip : IPAddress.IPv6Any;
            result.Add(new IPEndPoint(address, uri.Port));
        }

        return result;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "proxy listening on {Endpoints} ({Mode} mode)")]
    private static partial void LogStarted(ILogger logger, string endpoints, string mode);
}
