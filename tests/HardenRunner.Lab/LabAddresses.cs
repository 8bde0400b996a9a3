using System.Net;

namespace HardenRunner.Lab;

/// <summary>
/// The lab's fixed address plan. Only documentation ranges are used, and only inside the lab's own namespaces.
/// <list type="bullet">
/// <item>192.0.2.0/24 and 2001:db8::/64: the veth link (runner .1 / ::1, internet .2 / ::2, lab DNS .53 / ::53).</item>
/// <item>198.51.100.0/24 and 2001:db8:100::/64: the fake hosts, one address pair each (see <see cref="LabHosts"/>).</item>
/// <item>203.0.113.0/24 and 2001:db8:dead::/64: assigned nowhere ("an address on the internet nobody answers").</item>
/// </list>
/// </summary>
public static class LabAddresses
{
    public static IPAddress RunnerV4 { get; } = IPAddress.Parse("192.0.2.1");

    public static IPAddress RunnerV6 { get; } = IPAddress.Parse("2001:db8::1");

    public static IPAddress InternetV4 { get; } = IPAddress.Parse("192.0.2.2");

    public static IPAddress InternetV6 { get; } = IPAddress.Parse("2001:db8::2");

    /// <summary>The lab's upstream DNS server; the runner's private /etc/resolv.conf points here.</summary>
    public static IPAddress DnsV4 { get; } = IPAddress.Parse("192.0.2.53");

    public static IPAddress DnsV6 { get; } = IPAddress.Parse("2001:db8::53");

    public const int LinkPrefixV4 = 24;
    public const int LinkPrefixV6 = 64;

    public const string HostRangeV4 = "198.51.100.0/24";
    public const string HostRangeV6 = "2001:db8:100::/64";

    /// <summary>An address routed to the internet namespace but assigned to nothing there.</summary>
    public static IPAddress NowhereV4 { get; } = IPAddress.Parse("203.0.113.7");

    public static IPAddress NowhereV6 { get; } = IPAddress.Parse("2001:db8:dead::7");

    /// <summary>
    /// The container network (<see cref="LabOptions.Container"/>): a bridge in the runner namespace named like a
    /// Docker user-defined network (<c>br-…</c>), the runner's side the container's gateway, as Docker does.
    /// </summary>
    public const string BridgeInterface = "br-hrlab";

    /// <summary>
    /// With <see cref="LabOptions.ContainerRouted"/>: the container's host-side veth, named like a Calico pod interface
    /// (<c>cali…</c>), routed without a bridge; it holds the gateway addresses itself.
    /// </summary>
    public const string RoutedInterface = "calihrlab0";

    public static IPAddress BridgeV4 { get; } = IPAddress.Parse("198.18.0.1");

    public static IPAddress BridgeV6 { get; } = IPAddress.Parse("2001:db8:c::1");

    public static IPAddress ContainerV4 { get; } = IPAddress.Parse("198.18.0.2");

    public static IPAddress ContainerV6 { get; } = IPAddress.Parse("2001:db8:c::2");

    public const string ContainerRangeV4 = "198.18.0.0/24";
    public const string ContainerRangeV6 = "2001:db8:c::/64";

    /// <summary>The runner-side and internet-side names of the veth pair (inside their namespaces).</summary>
    public const string RunnerInterface = "veth-inet";
    public const string InternetInterface = "veth-runner";
}
