using System.Globalization;
using System.Text;

namespace HardenRunner.Lab.Internal;

/// <summary>
/// Creates the two network namespaces and the veth pair between them, with addresses and routes
/// (see <see cref="LabAddresses"/>). Creation is serialised inside this process: concurrent first uses of
/// <c>ip netns add</c> can race on mounting /run/netns.
/// </summary>
internal static class Topology
{
    private static readonly SemaphoreSlim Serial = new(1, 1);

    public static async Task CreateAsync(string runner, string internet, IReadOnlyList<LabHost> hosts, bool runnerDefaultRoute, CancellationToken cancellationToken)
    {
        await Serial.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Tool.RunAsync("ip", ["netns", "add", runner], cancellationToken: cancellationToken).ConfigureAwait(false);
            await Tool.RunAsync("ip", ["netns", "add", internet], cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Serial.Release();
        }

        var r = new StringBuilder();
        Line(r, "link set lo up");
        Line(r, $"link add {LabAddresses.RunnerInterface} type veth peer name {LabAddresses.InternetInterface} netns {internet}");
        Line(r, $"addr add {LabAddresses.RunnerV4}/{LabAddresses.LinkPrefixV4} dev {LabAddresses.RunnerInterface}");
        Line(r, $"addr add {LabAddresses.RunnerV6}/{LabAddresses.LinkPrefixV6} dev {LabAddresses.RunnerInterface} nodad");
        Line(r, $"link set {LabAddresses.RunnerInterface} up");
        Line(r, $"route add {LabAddresses.HostRangeV4} via {LabAddresses.InternetV4}");
        Line(r, $"route add {LabAddresses.HostRangeV6} via {LabAddresses.InternetV6}");
        if (runnerDefaultRoute)
        {
            Line(r, $"route add default via {LabAddresses.InternetV4}");
            Line(r, $"route add default via {LabAddresses.InternetV6}");
        }

        await Tool.RunAsync("ip", ["-n", runner, "-batch", "-"], r.ToString(), cancellationToken: cancellationToken).ConfigureAwait(false);

        var i = new StringBuilder();
        Line(i, "link set lo up");
        Line(i, $"addr add {LabAddresses.InternetV4}/{LabAddresses.LinkPrefixV4} dev {LabAddresses.InternetInterface}");
        Line(i, $"addr add {LabAddresses.DnsV4}/{LabAddresses.LinkPrefixV4} dev {LabAddresses.InternetInterface}");
        Line(i, $"addr add {LabAddresses.InternetV6}/{LabAddresses.LinkPrefixV6} dev {LabAddresses.InternetInterface} nodad");
        Line(i, $"addr add {LabAddresses.DnsV6}/{LabAddresses.LinkPrefixV6} dev {LabAddresses.InternetInterface} nodad");
        foreach (var host in hosts)
        {
            // host addresses live on lo: the runner reaches them through its routes via the veth peer
            Line(i, $"addr add {host.V4}/32 dev lo");
            Line(i, $"addr add {host.V6}/128 dev lo");
        }

        Line(i, $"link set {LabAddresses.InternetInterface} up");
        await Tool.RunAsync("ip", ["-n", internet, "-batch", "-"], i.ToString(), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The container namespace behind a bridge in the runner namespace (or, <paramref name="routed"/>, behind a routed
    /// veth that holds the gateway addresses itself); the internet routes the container range back via the runner.
    /// </summary>
    public static async Task CreateContainerAsync(string runner, string internet, string container, bool routed, CancellationToken cancellationToken)
    {
        await Serial.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Tool.RunAsync("ip", ["netns", "add", container], cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Serial.Release();
        }

        var r = new StringBuilder();
        var gateway = routed ? LabAddresses.RoutedInterface : LabAddresses.BridgeInterface;
        if (routed)
        {
            Line(r, $"link add {gateway} type veth peer name eth0 netns {container}");
        }
        else
        {
            Line(r, $"link add {gateway} type bridge");
        }

        Line(r, $"addr add {LabAddresses.BridgeV4}/24 dev {gateway}");
        Line(r, $"addr add {LabAddresses.BridgeV6}/64 dev {gateway} nodad");
        Line(r, $"link set {gateway} up");
        if (!routed)
        {
            Line(r, $"link add vc-host type veth peer name eth0 netns {container}");
            Line(r, $"link set vc-host master {gateway}");
            Line(r, "link set vc-host up");
        }

        await Tool.RunAsync("ip", ["-n", runner, "-batch", "-"], r.ToString(), cancellationToken: cancellationToken).ConfigureAwait(false);
        await Tool.RunAsync("ip", ["netns", "exec", runner, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"], cancellationToken: cancellationToken).ConfigureAwait(false);

        var c = new StringBuilder();
        Line(c, "link set lo up");
        Line(c, $"addr add {LabAddresses.ContainerV4}/24 dev eth0");
        Line(c, $"addr add {LabAddresses.ContainerV6}/64 dev eth0 nodad");
        Line(c, "link set eth0 up");
        Line(c, $"route add default via {LabAddresses.BridgeV4}");
        Line(c, $"route add default via {LabAddresses.BridgeV6}");
        await Tool.RunAsync("ip", ["-n", container, "-batch", "-"], c.ToString(), cancellationToken: cancellationToken).ConfigureAwait(false);

        var i = new StringBuilder();
        Line(i, $"route add {LabAddresses.ContainerRangeV4} via {LabAddresses.RunnerV4}");
        Line(i, $"route add {LabAddresses.ContainerRangeV6} via {LabAddresses.RunnerV6}");
        await Tool.RunAsync("ip", ["-n", internet, "-batch", "-"], i.ToString(), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static void Line(StringBuilder batch, string line) => batch.Append(line).Append('\n');

    public static string ProcPath(int pid, string ns) => string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/ns/{ns}");
}
