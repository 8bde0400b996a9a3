using System.Net;
using HardenRunner.Dns;
using HardenRunner.Hosting;

namespace HardenRunner.Tests.Dns;

public class UpstreamResolverDiscoveryTests
{
    private const string StubConf = "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
    private const string ResolvedConf = "# This is /run/systemd/resolve/resolv.conf\nnameserver 168.63.129.16\nnameserver 2001:db8::53\nsearch abc.internal.cloudapp.net\n";

    private static Func<string, string?> Files(params (string Path, string Text)[] files) =>
        path => files.FirstOrDefault(f => f.Path == path).Text;

    [Fact]
    public void ParseResolvConf_NameserversInOrder_CommentsAndOptionsIgnored()
    {
        var text = "; comment\n# nameserver 9.9.9.9\nnameserver 192.0.2.1 # trailing\nnameserver\t2001:db8::1\nnameserverX 1.1.1.1\noptions ndots:5\nnameserver not-an-ip\nnameserver 192.0.2.1\n";

        var servers = UpstreamResolverDiscovery.ParseResolvConf(text);

        Assert.Equal([new IPEndPoint(IPAddress.Parse("192.0.2.1"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::1"), 53)], servers);
    }

    [Fact]
    public void Discover_PlainResolvConf_UsesIt()
    {
        var servers = UpstreamResolverDiscovery.Discover(Files(("/etc/resolv.conf", "nameserver 10.255.255.53\n")));
        Assert.Equal([new IPEndPoint(IPAddress.Parse("10.255.255.53"), 53)], servers);
    }

    [Fact]
    public void Discover_SystemdResolvedStub_ReadsTheRealUpstreams()
    {
        var servers = UpstreamResolverDiscovery.Discover(Files(("/etc/resolv.conf", StubConf), ("/run/systemd/resolve/resolv.conf", ResolvedConf)));
        Assert.Equal([new IPEndPoint(IPAddress.Parse("168.63.129.16"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::53"), 53)], servers);
    }

    [Fact]
    public void Discover_MixedLoopbackAndReal_LoopbackSkipped()
    {
        var servers = UpstreamResolverDiscovery.Discover(Files(("/etc/resolv.conf", "nameserver 127.0.0.1\nnameserver ::1\nnameserver 0.0.0.0\nnameserver 192.0.2.7\n")));
        Assert.Equal([new IPEndPoint(IPAddress.Parse("192.0.2.7"), 53)], servers);
    }

    [Fact]
    public void Discover_StubWithoutResolvedConfig_ThrowsAndNamesTheFlag()
    {
        var e = Assert.Throws<UpstreamDiscoveryException>(() => UpstreamResolverDiscovery.Discover(Files(("/etc/resolv.conf", "nameserver 127.0.0.11\n"))));
        Assert.Contains("127.0.0.11", e.Message);
        Assert.Contains("--upstream-dns", e.Message);
    }

    [Fact]
    public void Discover_ResolvedConfigAlsoLoopback_Throws()
    {
        Assert.Throws<UpstreamDiscoveryException>(() => UpstreamResolverDiscovery.Discover(Files(("/etc/resolv.conf", StubConf), ("/run/systemd/resolve/resolv.conf", "nameserver 127.0.0.1\n"))));
    }

    [Fact]
    public void Discover_NoResolvConf_Throws()
    {
        var e = Assert.Throws<UpstreamDiscoveryException>(() => UpstreamResolverDiscovery.Discover(Files()));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void Discover_ResolvConfWrittenByHardenRunner_ReadsTheSavedOriginal()
    {
        var applied = $"{ResolverConfig.Marker}\nnameserver 172.17.0.1\n";
        var servers = UpstreamResolverDiscovery.Discover(
            Files(("/etc/resolv.conf", applied), ("/state/resolv.conf.orig", "nameserver 192.0.2.99\n")),
            "/state/resolv.conf.orig");
        Assert.Equal([new IPEndPoint(IPAddress.Parse("192.0.2.99"), 53)], servers);
    }

    [Fact]
    public void Discover_ResolvConfWrittenByHardenRunner_SavedSymlinkFollowedToTheStub()
    {
        var applied = $"{ResolverConfig.Marker}\nnameserver 172.17.0.1\n";
        var servers = UpstreamResolverDiscovery.Discover(
            Files(
                ("/etc/resolv.conf", applied),
                ("/state/resolv.conf.orig.link", "../run/systemd/resolve/stub-resolv.conf"),
                ("/etc/../run/systemd/resolve/stub-resolv.conf", StubConf),
                ("/run/systemd/resolve/resolv.conf", ResolvedConf)),
            "/state/resolv.conf.orig");
        Assert.Equal(IPAddress.Parse("168.63.129.16"), servers[0].Address);
    }

    [Fact]
    public void Discover_ResolvConfWrittenByHardenRunner_NoBackup_NeverUsesIt()
    {
        var applied = $"{ResolverConfig.Marker}\nnameserver 172.17.0.1\n";
        Assert.Throws<UpstreamDiscoveryException>(() => UpstreamResolverDiscovery.Discover(Files(("/etc/resolv.conf", applied))));
    }

    [Theory]
    [InlineData("192.0.2.53", "192.0.2.53", 53)]
    [InlineData("192.0.2.53:5353", "192.0.2.53", 5353)]
    [InlineData("2001:db8::53", "2001:db8::53", 53)]
    [InlineData("[2001:db8::53]", "2001:db8::53", 53)]
    [InlineData("[2001:db8::53]:5353", "2001:db8::53", 5353)]
    [InlineData(" [::1]:53 ", "::1", 53)]
    public void TryParseUpstream_Valid(string text, string address, int port)
    {
        Assert.True(UpstreamResolverDiscovery.TryParseUpstream(text, out var ep, out var error), error);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), ep);
    }

    [Theory]
    [InlineData("dns.google", "not an IP address")]
    [InlineData("192.0.2", "not an IP address")]
    [InlineData("192.0.2.53:0", "not a port")]
    [InlineData("192.0.2.53:70000", "not a port")]
    [InlineData("192.0.2.53:x", "not a port")]
    [InlineData("[2001:db8::53", "missing ']'")]
    [InlineData("[2001:db8::53]5353", "expected ':PORT'")]
    [InlineData("", "not an IP address")]
    public void TryParseUpstream_Invalid_ExplainsWhy(string text, string expected)
    {
        Assert.False(UpstreamResolverDiscovery.TryParseUpstream(text, out _, out var error));
        Assert.Contains(expected, error);
    }

    [Fact]
    public void TryParseUpstreams_List()
    {
        Assert.True(UpstreamResolverDiscovery.TryParseUpstreams("192.0.2.1, [2001:db8::1]:5353", out var list, out _));
        Assert.Equal(2, list.Count);
        Assert.False(UpstreamResolverDiscovery.TryParseUpstreams(" , ", out _, out var error));
        Assert.Contains("no address", error);
    }
}
