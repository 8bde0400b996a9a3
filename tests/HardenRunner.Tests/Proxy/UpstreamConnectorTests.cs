using System.Net;
using System.Net.Sockets;
using HardenRunner.Proxy;
using HardenRunner.Proxy.Upstream;

namespace HardenRunner.Tests.Proxy;

public sealed class UpstreamConnectorTests
{
    private static readonly IPAddress A = IPAddress.Parse("198.51.100.10");
    private static readonly IPAddress B = IPAddress.Parse("198.51.100.11");
    private static readonly IPAddress Attacker = IPAddress.Parse("198.51.100.66");

    [Fact]
    public void Order_PreferredAmongResolved_GoesFirst()
    {
        Assert.Equal([B, A], UpstreamConnector.Order([A, B], B));
        Assert.Equal([B, A], UpstreamConnector.Order([A, B], B.MapToIPv6()));
    }

    [Fact]
    public void Order_PreferredNotAmongResolved_NeverUsed()
    {
        var order = UpstreamConnector.Order([A, B], Attacker);
        Assert.Equal([A, B], order);
        Assert.DoesNotContain(Attacker, order);
    }

    [Fact]
    public void Order_NothingResolved_Empty()
    {
        Assert.Empty(UpstreamConnector.Order([], Attacker));
    }

    [Fact]
    public async Task ConnectAsync_NameWithoutAddresses_FailsWithoutConnectingAnywhere()
    {
        var configured = 0;
        var connector = new UpstreamConnector(new StaticResolver(), _ => configured++, null, TimeSpan.FromSeconds(2));
        await Assert.ThrowsAsync<UpstreamConnectException>(async () => await connector.ConnectAsync("nowhere.test", 443, Attacker, CancellationToken.None));
        Assert.Equal(0, configured);
    }

    [Fact]
    public async Task ConnectAsync_SourcePortRange_BindsInsideItAndConfiguresFirst()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        var range = new PortRange(62000, 62999);
        var configuredBeforeBind = true;
        var connector = new UpstreamConnector(
            new StaticResolver().Set("up.test", IPAddress.Loopback),
            s => configuredBeforeBind &= !s.IsBound,
            range,
            TimeSpan.FromSeconds(2));
        for (var i = 0; i < 5; i++)
        {
            using var s = await connector.ConnectAsync("up.test", ((IPEndPoint)listener.LocalEndPoint!).Port, null, CancellationToken.None);
            Assert.True(range.Contains(((IPEndPoint)s.LocalEndPoint!).Port));
        }

        Assert.True(configuredBeforeBind);
    }

    [Fact]
    public async Task ConnectAsync_ConfigureThrows_FailsClosed()
    {
        var connector = new UpstreamConnector(new StaticResolver().Set("up.test", IPAddress.Loopback), _ => throw new SocketException((int)SocketError.AccessDenied), null, TimeSpan.FromSeconds(2));
        await Assert.ThrowsAnyAsync<Exception>(async () => await connector.ConnectAsync("up.test", 9, null, CancellationToken.None));
    }
}
