using System.Net;
using System.Net.Sockets;
using HardenRunner.Linux;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Detectors;

namespace HardenRunner.Dns;

/// <summary>How the DNS server listens, where it forwards, and its limits.</summary>
public sealed record DnsServerOptions
{
    /// <summary>
    /// Where to listen, UDP and TCP on each. Bind specific addresses (127.0.0.1:53, [::1]:53, a bridge address): replies
    /// leave from the address the socket is bound to. Port 0 picks one free port shared by all endpoints (tests).
    /// </summary>
    public required IReadOnlyList<IPEndPoint> ListenEndpoints { get; init; }

    /// <summary>The real upstream resolvers (see <see cref="UpstreamResolverDiscovery"/>), tried in order.</summary>
    public required IReadOnlyList<IPEndPoint> Upstreams { get; init; }

    /// <summary>
    /// Called on every upstream socket before it connects. The default sets SO_MARK (<see cref="SocketMark.Apply"/>):
    /// without the mark the firewall would redirect the server's own queries back to itself. If it throws, the query fails.
    /// </summary>
    public Action<Socket>? ConfigureUpstreamSocket { get; init; } = SocketMark.Apply;

    /// <summary>How long one upstream attempt (one server, one transport) may take.</summary>
    public TimeSpan UpstreamAttemptTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a query may take in all before the client gets SERVFAIL.</summary>
    public TimeSpan QueryTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Queries being forwarded at once; UDP queries beyond it are dropped (and counted), clients retry.</summary>
    public int MaxInFlight { get; init; } = 512;

    /// <summary>Open client TCP connections; more are closed at once.</summary>
    public int MaxTcpConnections { get; init; } = 128;

    /// <summary>How long a client TCP connection may sit idle (or take to send one message).</summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The shortest time an allowed name's address stays in the firewall's allow sets (TTL 0 answers exist).</summary>
    public TimeSpan MinAllowTtl { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The longest; answer TTLs given to clients are capped to it too, so no client caches an address longer than it is allowed.</summary>
    public TimeSpan MaxAllowTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// Responses cached for allowed names (0 turns the cache off). When full, the oldest stored entry goes. Denied
    /// names are never cached: each of their queries is decided and recorded, and forwarded in audit mode.
    /// </summary>
    public int ResponseCacheEntries { get; init; } = 10_000;

    /// <summary>The cache's byte budget (responses larger than 16 KiB are never cached).</summary>
    public long ResponseCacheBytes { get; init; } = 32 * 1024 * 1024;

    /// <summary>The longest a negative answer (NXDOMAIN, NODATA) is cached, whatever its SOA says (RFC 2308: min of SOA TTL and MINIMUM).</summary>
    public TimeSpan NegativeCacheTtl { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Names the process and step behind each query (the process monitor's <see cref="ProcessMonitor.Attributor"/>):
    /// a UDP query by its source address and port, a TCP connection by its client end, once. The lookup runs on a thread
    /// of its own and the query's event is published when it ends; the answer never waits for it. Null: events carry no
    /// process or step.
    /// </summary>
    public IProcessAttributor? Attributor { get; init; }

    /// <summary>
    /// The appliance's own client sockets (the proxy's resolver): a UDP query from one of them is attributed to the
    /// appliance itself (<see cref="IProcessAttributor.AttributePid"/> of this process, once) without a socket lookup.
    /// </summary>
    public Monitoring.Network.OwnSockets? OwnSockets { get; init; }

    /// <summary>
    /// Called with each allowed name whose forwarded answer carried addresses the firewall took (an answer served from
    /// the cache does not call it). It runs on the query's path and must return at once: the appliance only queues the
    /// name, to mint its certificate before the client's TLS connection arrives (<see cref="Tls.CertificateWarmer"/>).
    /// </summary>
    public Action<string>? NameResolved { get; init; }

    /// <summary>Thresholds of the dns-exfiltration detection fed with every queried name; null turns it off.</summary>
    public DnsExfiltrationOptions? Exfiltration { get; init; } = new();
}
