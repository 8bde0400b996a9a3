using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using HardenRunner.Linux;
using HardenRunner.Monitoring;

namespace HardenRunner.Proxy;

/// <summary>How the transparent proxy listens, decides, reaches upstreams, and how long it waits.</summary>
public sealed record ProxyOptions
{
    /// <summary>The port the firewall redirects TCP 443 to (0 = any free port, tests).</summary>
    public int HttpsPort { get; init; } = 15443;

    /// <summary>The port the firewall redirects TCP 80 to (0 = any free port, tests).</summary>
    public int HttpPort { get; init; } = 15080;

    /// <summary>
    /// Where to listen. <see cref="IPAddress.IPv6Any"/> (the default) is one dual-mode socket per port that takes IPv4 and
    /// IPv6 (falls back to 0.0.0.0 where IPv6 is off): redirected flows arrive on loopback and, from container bridges,
    /// on the bridge's address. Connections that were not redirected are refused (see <see cref="OriginalDestination"/>).
    /// </summary>
    public IPAddress ListenAddress { get; init; } = IPAddress.IPv6Any;

    /// <summary>Extra roots trusted for upstream TLS on top of the system roots (<c>--upstream-ca</c>).</summary>
    public X509Certificate2Collection UpstreamRoots { get; init; } = [];

    /// <summary>
    /// Called on every upstream socket before it binds and connects. The default sets SO_MARK
    /// (<see cref="SocketMark.Apply"/>): the firewall neither redirects nor filters marked traffic. If it throws, the
    /// upstream connection fails (fail-closed).
    /// </summary>
    public Action<Socket> ConfigureUpstreamSocket { get; init; } = SocketMark.Apply;

    /// <summary>Reads where a redirected connection was going. The default reads SO_ORIGINAL_DST.</summary>
    public IOriginalDestinationReader OriginalDestination { get; init; } = new SoOriginalDestinationReader();

    /// <summary>
    /// Local ports the upstream sockets bind to, outside the kernel's ephemeral range that clients' sockets use, so an
    /// upstream flow never shares addresses and ports with a job's redirected flow (conntrack would hand it that flow's
    /// NAT decision). Null lets the kernel choose (tests on loopback may use it).
    /// </summary>
    public PortRange? UpstreamSourcePorts { get; init; } = PortRange.OutsideEphemeral();

    /// <summary>How long a client may take to send its ClientHello.</summary>
    public TimeSpan ClientHelloTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the TLS handshake with the client may take once it is intercepted.</summary>
    public TimeSpan TlsHandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one upstream TCP connect may take.</summary>
    public TimeSpan UpstreamConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a forwarded request may see no activity (headers or body bytes in either direction).</summary>
    public TimeSpan UpstreamActivityTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>
    /// Names the process and step behind each connection (the process monitor's <see cref="ProcessMonitor.Attributor"/>):
    /// looked up once per connection, at accept, from the client's end and the original destination, on a thread of its
    /// own; every event of the connection carries the result. Null: events carry no process or step.
    /// </summary>
    public IProcessAttributor? Attributor { get; init; }

    /// <summary>
    /// How long a new connection's first answer to the client (a TLS alert, a splice, a refusal, an HTTP response) may wait
    /// for its lookup (default 250 ms). The lookup starts at accept and runs while the ClientHello is read, the decision
    /// made, the certificate minted, the TLS handshake done and a request forwarded; only the answer waits. The client
    /// cannot finish — and close its socket — before the proxy answers, so waiting there turns a lookup that is slow
    /// under load into a found process instead of an unknown one; a lookup that takes longer goes on in the
    /// background. Zero: never wait.
    /// </summary>
    public TimeSpan AttributionWait { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid value.</summary>
    public void Validate()
    {
        CheckPort(HttpsPort, nameof(HttpsPort));
        CheckPort(HttpPort, nameof(HttpPort));
        ArgumentNullException.ThrowIfNull(ListenAddress, nameof(ListenAddress));
        ArgumentNullException.ThrowIfNull(UpstreamRoots, nameof(UpstreamRoots));
        ArgumentNullException.ThrowIfNull(ConfigureUpstreamSocket, nameof(ConfigureUpstreamSocket));
        ArgumentNullException.ThrowIfNull(OriginalDestination, nameof(OriginalDestination));
        if (HttpsPort != 0 && HttpsPort == HttpPort)
        {
            throw new ArgumentException($"the HTTPS and HTTP ports must differ (both are {HttpsPort})", nameof(HttpPort));
        }

        foreach (var (value, name) in new[]
        {
            (ClientHelloTimeout, nameof(ClientHelloTimeout)),
            (TlsHandshakeTimeout, nameof(TlsHandshakeTimeout)),
            (UpstreamConnectTimeout, nameof(UpstreamConnectTimeout)),
            (UpstreamActivityTimeout, nameof(UpstreamActivityTimeout)),
        })
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentException($"{name} must be positive", name);
            }
        }
    }

    private static void CheckPort(int port, string name)
    {
        if (port is < 0 or > 65535)
        {
            throw new ArgumentException($"port {port} is outside 0-65535", name);
        }
    }
}
