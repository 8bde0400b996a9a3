using System.Net;
using System.Net.Sockets;
using HardenRunner.Proxy;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Proxy;

public sealed class OriginalDestinationReaderTests
{
    [Fact]
    public void Parse_SockaddrIn_AddressAndBigEndianPort()
    {
        byte[] raw = [2, 0, 0x01, 0xbb, 192, 0, 2, 10, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 443), SoOriginalDestinationReader.Parse(raw));
    }

    [Fact]
    public void Parse_SockaddrIn6_AddressAndPort()
    {
        var raw = new byte[28];
        raw[0] = 10;
        raw[2] = 0x01;
        raw[3] = 0xbb;
        IPAddress.Parse("2001:db8::10").GetAddressBytes().CopyTo(raw, 8);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("2001:db8::10"), 443), SoOriginalDestinationReader.Parse(raw));
    }

    [Fact]
    public void Parse_UnknownFamilyOrShort_Null()
    {
        Assert.Null(SoOriginalDestinationReader.Parse(new byte[128]));
        Assert.Null(SoOriginalDestinationReader.Parse([2, 0, 1]));
    }

    [Fact]
    public async Task Read_DirectLoopbackConnection_NotARedirect()
    {
        using var listener = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
        listener.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using var accepted = await listener.AcceptAsync();
        var read = new SoOriginalDestinationReader().Read(accepted);

        // without conntrack there is nothing to read; with it, the "original" destination is the listener itself
        Assert.True(read is null || read.Equals(accepted.LocalEndPoint), $"read {read}");
    }

    /// <summary>The real thing: nftables redirects in a throwaway namespace, IPv4 and IPv6 on one dual-mode listener.</summary>
    [SkippableFact]
    public async Task Read_RedirectedFlowsInANamespace_OriginalDestinationIPv4AndIPv6()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        Skip.IfNot(File.Exists("/usr/sbin/nft"), "needs nftables (nft)");
        using var net = NetnsFixture.Create();
        using var listener = NetnsFixture.CreateSocket(net.Runner, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.DualMode = true;
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        listener.Listen(8);
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        net.Exec(net.Runner, "nft", $"add table inet hrproxytest; add chain inet hrproxytest out {{ type nat hook output priority -100; }}; add rule inet hrproxytest out tcp dport 443 redirect to :{port}");

        var reader = new SoOriginalDestinationReader();
        foreach (var (family, target) in new[]
        {
            (AddressFamily.InterNetwork, new IPEndPoint(NetnsFixture.PeerV4, 443)),
            (AddressFamily.InterNetworkV6, new IPEndPoint(NetnsFixture.PeerV6, 443)),
        })
        {
            using var client = NetnsFixture.CreateSocket(net.Runner, family, SocketType.Stream, ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.ConnectAsync(target, cts.Token);
            using var accepted = await listener.AcceptAsync(cts.Token);
            Assert.Equal(target, reader.Read(accepted));
        }
    }
}
