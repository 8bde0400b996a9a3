using System.Net;
using System.Net.Sockets;
using HardenRunner.Linux;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;

namespace HardenRunner.Netfilter;

/// <summary>A static allow from the policy: a network, a port (null = every port) and a transport.</summary>
public sealed record StaticAllow(IPNetwork Network, int? Port, Transport Transport);

/// <summary>Everything the firewall's ruleset depends on. Validated by <see cref="Validate"/> before any nft text is built.</summary>
public sealed record FirewallOptions
{
    /// <summary>
    /// Interfaces whose forwarded traffic (containers) is redirected and filtered like the host's own: the bridges
    /// of Docker, CNI and podman (docker0, br-*, cni*, podman*) and the per-pod veths of routed CNIs — Calico's
    /// <c>cali*</c> and Cilium's <c>lxc*</c> (when Cilium's eBPF host routing bypasses netfilter, nothing here sees
    /// those pods' traffic: docs/deployment.md). Not <c>veth*</c>: a host whose own uplink is a veth (a runner inside
    /// a container or pod, the e2e lab) would otherwise have all its egress accepted as "container" traffic.
    /// </summary>
    public static IReadOnlyList<string> DefaultBridgeInterfaces { get; } = ["docker0", "br-*", "cni*", "podman*", "cali*", "lxc*"];

    public EgressMode Mode { get; init; } = EgressMode.Block;

    /// <summary>Local port of the DNS server (UDP and TCP); every flow to port 53 is redirected here.</summary>
    public required int DnsPort { get; init; }

    /// <summary>
    /// Port of the DNS listener that containers' DNS is redirected to (0: <see cref="DnsPort"/>). A prerouting
    /// redirect sends the query to the bridge's own address, so this listener is bound to every address; it is a
    /// separate port so that the loopback listener on <see cref="DnsPort"/> keeps its exclusive binding (a wildcard
    /// UDP socket answers from the address the route picks, which is only right for on-link container networks).
    /// </summary>
    public int ContainerDnsPort { get; init; }

    /// <summary>The port container DNS is redirected to.</summary>
    public int EffectiveContainerDnsPort => ContainerDnsPort == 0 ? DnsPort : ContainerDnsPort;

    /// <summary>Local port of the proxy for TCP 80. Until the proxy listens, redirected flows are refused (fail-closed).</summary>
    public required int HttpProxyPort { get; init; }

    /// <summary>Local port of the proxy for TCP 443.</summary>
    public required int HttpsProxyPort { get; init; }

    public IReadOnlyList<StaticAllow> StaticAllows { get; init; } = [];

    /// <summary>The real upstream resolvers. Only the appliance (marked sockets) may reach them, on any port.</summary>
    public IReadOnlyList<IPAddress> UpstreamDns { get; init; } = [];

    /// <summary>SO_MARK of the appliance's own sockets: accepted and never redirected.</summary>
    public int Mark { get; init; } = SocketMark.Appliance;

    /// <summary>NFLOG group of logged (denied) flows. Groups are per network namespace.</summary>
    public ushort NflogGroup { get; init; } = 0x4852;

    /// <summary>Interface names (a trailing <c>*</c> is a prefix match) of container bridges; see <see cref="DefaultBridgeInterfaces"/>.</summary>
    public IReadOnlyList<string> BridgeInterfaces { get; init; } = DefaultBridgeInterfaces;

    /// <summary>Accept DHCP (udp 68→67) and DHCPv6 (udp 546→547) so a VM keeps its lease in block mode.</summary>
    public bool AllowDhcp { get; init; } = true;

    /// <summary>Shortest time a DNS-derived allow stays in place, whatever the answer's TTL.</summary>
    public TimeSpan AllowTtlFloor { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest time a DNS-derived allow stays in place without a new answer.</summary>
    public TimeSpan AllowTtlCap { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often the table is compared with what was applied.</summary>
    public TimeSpan VerifyInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Options from a policy: its mode, its <c>allowed-cidrs</c> and its address-literal <c>allowed-endpoints</c>.
    /// </summary>
    public static FirewallOptions FromPolicy(PolicyDocument policy, int dnsPort, int httpProxyPort, int httpsProxyPort, IReadOnlyList<IPAddress> upstreamDns)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(upstreamDns);
        var allows = new List<StaticAllow>();
        foreach (var c in policy.AllowedCidrs)
        {
            allows.Add(new StaticAllow(c.Network, c.Port, c.Transport));
        }

        foreach (var ep in policy.AllowedEndpoints)
        {
            if (ep.Host.Kind == HostPatternKind.Address && ep.Host.Address is { } address)
            {
                var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
                allows.Add(new StaticAllow(new IPNetwork(a, a.AddressFamily == AddressFamily.InterNetwork ? 32 : 128), ep.Port, ep.Transport));
            }
        }

        return new FirewallOptions
        {
            Mode = policy.EgressPolicy,
            DnsPort = dnsPort,
            HttpProxyPort = httpProxyPort,
            HttpsProxyPort = httpsProxyPort,
            StaticAllows = allows,
            UpstreamDns = upstreamDns,
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid value. Everything that reaches nft text is checked here.</summary>
    public void Validate()
    {
        CheckPort(DnsPort, nameof(DnsPort));
        CheckPort(EffectiveContainerDnsPort, nameof(ContainerDnsPort));
        CheckPort(HttpProxyPort, nameof(HttpProxyPort));
        CheckPort(HttpsProxyPort, nameof(HttpsProxyPort));
        if (Mark == 0)
        {
            throw new ArgumentException("the appliance mark must not be 0 (every unmarked packet has mark 0)", nameof(Mark));
        }

        foreach (var a in StaticAllows)
        {
            ArgumentNullException.ThrowIfNull(a, nameof(StaticAllows));
            if (a.Port is { } p)
            {
                CheckPort(p, nameof(StaticAllows));
            }

            if (a.Network.BaseAddress.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            {
                throw new ArgumentException($"allowed network {a.Network} is neither IPv4 nor IPv6", nameof(StaticAllows));
            }
        }

        foreach (var a in UpstreamDns)
        {
            if (a.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
            {
                throw new ArgumentException($"upstream resolver {a} is neither IPv4 nor IPv6", nameof(UpstreamDns));
            }
        }

        foreach (var name in BridgeInterfaces)
        {
            if (!IsInterfacePattern(name))
            {
                throw new ArgumentException($"'{name}' is not an interface name or prefix pattern (letters, digits, '.', '_', '-', optional trailing '*', at most 15 characters)", nameof(BridgeInterfaces));
            }
        }

        if (AllowTtlFloor <= TimeSpan.Zero || AllowTtlCap < AllowTtlFloor)
        {
            throw new ArgumentException("allow TTLs need 0 < floor <= cap", nameof(AllowTtlCap));
        }

        if (VerifyInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("the verification interval must be positive", nameof(VerifyInterval));
        }
    }

    internal static bool IsInterfacePattern(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return false;
        }

        var core = name.EndsWith('*') ? name[..^1] : name;
        if (core.Length is 0 or > 15)
        {
            return false;
        }

        foreach (var c in core)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static void CheckPort(int port, string name)
    {
        if (port is < 1 or > 65535)
        {
            throw new ArgumentException($"port {port} is outside 1-65535", name);
        }
    }
}
