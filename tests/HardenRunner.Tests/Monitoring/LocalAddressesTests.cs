using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

/// <summary>
/// The addresses of the appliance's own namespace: a source address among them cannot belong to a container, so a
/// socket that sock_diag did not find is not searched for in other namespaces.
/// </summary>
public sealed class LocalAddressesTests
{
    private static IPAddress? FirstNonLoopback(AddressFamily family) =>
        NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(u => u.Address)
            .FirstOrDefault(a => a.AddressFamily == family && !IPAddress.IsLoopback(a));

    [Fact]
    public void Contains_LoopbackAndConfiguredAddresses_InEveryForm_NotOthers()
    {
        var local = new LocalAddresses(TimeSpan.FromSeconds(5));
        Assert.True(local.Contains(IPAddress.Loopback));
        Assert.True(local.Contains(IPAddress.IPv6Loopback));
        Assert.True(local.Contains(IPAddress.Loopback.MapToIPv6()));
        Assert.True(local.Contains(IPAddress.Parse("127.0.0.53")));
        Assert.False(local.Contains(IPAddress.Parse("192.0.2.199")));      // TEST-NET-1: never configured here
        Assert.False(local.Contains(IPAddress.Parse("2001:db8:ffff::99")));

        var configured = FirstNonLoopback(AddressFamily.InterNetwork);
        Assert.NotNull(configured); // a machine that runs CI has a network interface with an address
        Assert.True(local.Contains(configured));
        Assert.True(local.Contains(configured.MapToIPv6()));
        if (FirstNonLoopback(AddressFamily.InterNetworkV6) is { } v6)
        {
            Assert.True(local.Contains(new IPAddress(v6.GetAddressBytes(), scopeid: 7)));
        }
    }

    [SkippableFact]
    public void Attribution_OfAGoneSocket_FromALocalAddress_DoesNotSearchOtherNamespaces()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        var owners = monitor.Owners!;
        var configured = FirstNonLoopback(AddressFamily.InterNetwork)!;

        // nobody holds these sockets: unknown either way
        var before = owners.ForeignSearches;
        Assert.Null(monitor.Attributor.AttributeUdp(new IPEndPoint(configured, 1), new IPEndPoint(configured, 53)).Process);
        Assert.Null(monitor.Attributor.AttributeTcp(new IPEndPoint(configured, 1), new IPEndPoint(configured, 443)).Process);
        Assert.Equal(before, owners.ForeignSearches);

        // a source address that is not this namespace's may be a container's: searched
        Assert.Null(monitor.Attributor.AttributeUdp(new IPEndPoint(IPAddress.Parse("192.0.2.199"), 1), new IPEndPoint(configured, 53)).Process);
        Assert.Equal(before + 1, owners.ForeignSearches);
    }
}
