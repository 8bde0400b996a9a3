using System.Net;
using System.Runtime.Versioning;
using HardenRunner.Events;
using HardenRunner.Netfilter;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>Block mode with real traffic between test-made namespaces (root only).</summary>
[SupportedOSPlatform("linux")]
public sealed class FirewallBlockModeTests
{
    private static readonly IPAddress[] Peers = [NetnsFixture.PeerV4, NetnsFixture.PeerV6];

    [SkippableFact]
    public async Task Block_DropsTcpAndUdpToUnlistedDestinations_AndLogsThem_IPv4AndIPv6()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 9000);

        foreach (var address in Peers)
        {
            Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, address, 9000, FirewallLab.Blocked));
            NetClient.SendUdp(lab.Runner, address, 9000, "exfil");
        }

        await Task.Delay(300);
        Assert.Empty(peer.Arrivals);
        foreach (var address in Peers)
        {
            foreach (var kind in new[] { "tcp", "udp" })
            {
                var e = await lab.Sink.WaitForAsync<NetworkEvent>(n => n.Kind == kind && n.Address == address.ToString() && n.Port == 9000, TimeSpan.FromSeconds(3));
                Assert.NotNull(e);
                Assert.Equal(Decision.Deny, e.Decision);
                Assert.Equal(NetworkEvent.Blocked, e.Action);
                Assert.Equal(NflogPrefix.RuleText(NflogPrefix.Deny), e.Rule);
            }
        }

        Assert.Equal(0, lab.Reader.Lost);
    }

    [SkippableFact]
    public async Task Block_RetransmittedSyns_AreOneEvent()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());

        // one connection attempt long enough for the kernel to retransmit its SYN (after 1 s)
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9100, TimeSpan.FromMilliseconds(1300)));
        await Task.Delay(200);
        Assert.Single(lab.Sink.Events.OfType<NetworkEvent>(), e => e.Port == 9100);
    }

    [SkippableFact]
    public async Task Block_StaticAllowPassesOnlyItsPortAndTransport()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        var options = FirewallLab.Options() with
        {
            StaticAllows =
            [
                new StaticAllow(IPNetwork.Parse("192.0.2.3/32"), 8080, Transport.Tcp),
                new StaticAllow(IPNetwork.Parse("2001:db8::3/128"), 8080, Transport.Tcp),
                new StaticAllow(IPNetwork.Parse("192.0.2.0/24"), 9001, Transport.Udp),
                new StaticAllow(IPNetwork.Parse("192.0.2.0/28"), 9001, Transport.Udp), // contained: dropped by the builder
                new StaticAllow(IPNetwork.Parse("2001:db8::/64"), null, Transport.Udp),
            ],
        };
        await using var lab = await FirewallLab.StartAsync(options);
        using var peer = new NetListener(lab.Net.Peer, 8080, 8081, 9001, 9002);

        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4b, 8080, FirewallLab.Open));
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV6b, 8080, FirewallLab.Open));
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4b, 8081, FirewallLab.Blocked));
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 8080, FirewallLab.Blocked));
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4, 9001, "udp-allowed");
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4, 9002, "udp-other-port");
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV6, 9002, "udp6-any-port");
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4b, 8080, "udp-on-tcp-port");

        Assert.NotNull(await peer.WaitForAsync(a => a.Payload == "udp-allowed", FirewallLab.Open));
        Assert.NotNull(await peer.WaitForAsync(a => a.Payload == "udp6-any-port", FirewallLab.Open));
        await Task.Delay(300);
        Assert.DoesNotContain(peer.Arrivals, a => a.Payload is "udp-other-port" or "udp-on-tcp-port");
        Assert.DoesNotContain(peer.Arrivals, a => a.LocalPort == 8081);
        Assert.Equal(2, await peer.CountAsync(a => a.LocalPort == 8080 && a.Transport == "tcp", 2, FirewallLab.Open));
    }

    [SkippableFact]
    public async Task Block_AllowAsyncOpensGrantedPortsOnly_UntilTheTimeout()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        var options = FirewallLab.Options() with { AllowTtlFloor = TimeSpan.FromSeconds(2), AllowTtlCap = TimeSpan.FromSeconds(2) };
        await using var lab = await FirewallLab.StartAsync(options);
        using var peer = new NetListener(lab.Net.Peer, 9000, 9001);

        var allowedAt = DateTime.UtcNow;
        foreach (var address in Peers)
        {
            await lab.Firewall.AllowAsync(address, [new PortGrant(9000, Transport.Tcp), new PortGrant(9001, Transport.Udp)], TimeSpan.FromSeconds(1));
        }

        foreach (var address in Peers)
        {
            Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, address, 9000, FirewallLab.Open));
            NetClient.SendUdp(lab.Runner, address, 9001, "granted-" + address);
            NetClient.SendUdp(lab.Runner, address, 9000, "not-granted-" + address);
            Assert.NotNull(await peer.WaitForAsync(a => a.Payload == "granted-" + address, FirewallLab.Open));
        }

        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9001, FirewallLab.Blocked));
        Assert.DoesNotContain(peer.Arrivals, a => a.Payload.StartsWith("not-granted", StringComparison.Ordinal));

        // TTL 1 s is raised to the floor (2 s), plus 1 s headroom: gone 3 s after the allow
        var wait = allowedAt + TimeSpan.FromSeconds(3.5) - DateTime.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        foreach (var address in Peers)
        {
            Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, address, 9000, FirewallLab.Blocked));
        }
    }

    [SkippableFact]
    public async Task Block_WebPortGrants_AddNothing_TheProxyTakesThoseFlows()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 22);
        var before = lab.Firewall.AllowBatches;

        // a name granted only the web ports: no nft transaction, the answer need not wait for one
        await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, [new PortGrant(443, Transport.Tcp), new PortGrant(80, Transport.Tcp)], TimeSpan.FromSeconds(300));
        Assert.Equal(before, lab.Firewall.AllowBatches);
        Assert.DoesNotContain(".", SetElements(lab, "allow4"));

        // with another port as well, only that one lands; UDP 443 (QUIC) is not redirected, so it does land
        await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, [new PortGrant(443, Transport.Tcp), new PortGrant(22, Transport.Tcp), new PortGrant(443, Transport.Udp)], TimeSpan.FromSeconds(300));
        var set = SetElements(lab, "allow4");
        Assert.Contains(NetnsFixture.PeerV4 + " . tcp . 22", set);
        Assert.Contains(NetnsFixture.PeerV4 + " . udp . 443", set);
        Assert.DoesNotContain("tcp . 443", set);
        Assert.DoesNotContain("tcp . 80", set);
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 22, FirewallLab.Open));
    }

    private static string SetElements(FirewallLab lab, string set)
    {
        var text = lab.Net.Exec(lab.Runner, "nft", "list", "set", "inet", "harden_runner", set);
        var start = text.IndexOf("elements", StringComparison.Ordinal);
        return start < 0 ? "" : text[start..];
    }

    [SkippableFact]
    public async Task Block_RepeatedAllowsForTheSameAddress_CostNoExtraNftCalls()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        var grants = new[] { new PortGrant(22, Transport.Tcp) };

        await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, grants, TimeSpan.FromSeconds(300));
        var afterFirst = lab.Firewall.AllowBatches;
        for (var i = 0; i < 100; i++)
        {
            await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, grants, TimeSpan.FromSeconds(300));
            lab.Firewall.Allow(NetnsFixture.PeerV4, grants, TimeSpan.FromSeconds(30));
        }

        Assert.Equal(afterFirst, lab.Firewall.AllowBatches);

        // many distinct addresses at once are batched into few transactions
        var tasks = Enumerable.Range(1, 200).Select(i => lab.Firewall.AllowAsync(IPAddress.Parse($"203.0.113.{i}"), grants, TimeSpan.FromSeconds(60))).ToList();
        await Task.WhenAll(tasks);
        Assert.True(lab.Firewall.AllowBatches - afterFirst < 50, $"{lab.Firewall.AllowBatches - afterFirst} nft calls for 200 allows");
        Assert.Contains("203.0.113.200 . tcp . 22", lab.Net.Exec(lab.Runner, "nft", "list", "set", "inet", "harden_runner", "allow4"));
    }

    [SkippableFact]
    public async Task Block_Udp443IsRejected_SoQuicFallsBackToTcp()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        var options = FirewallLab.Options() with { StaticAllows = [new StaticAllow(IPNetwork.Parse("192.0.2.0/24"), 443, Transport.Udp)] };
        await using var lab = await FirewallLab.StartAsync(options);
        using var peer = new NetListener(lab.Net.Peer, 443);

        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4, 443, "quic");
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV6, 443, "quic6");

        var e = await lab.Sink.WaitForAsync<NetworkEvent>(n => n.Kind == "udp" && n.Port == 443 && n.Address == "192.0.2.2", TimeSpan.FromSeconds(3));
        Assert.NotNull(e);
        Assert.Equal(NflogPrefix.RuleText(NflogPrefix.Quic), e.Rule);
        Assert.NotNull(await lab.Sink.WaitForAsync<NetworkEvent>(n => n.Port == 443 && n.Address == "2001:db8::2", TimeSpan.FromSeconds(3)));
        Assert.DoesNotContain(peer.Arrivals, a => a.Transport == "udp");
    }

    [SkippableFact]
    public async Task Block_MarkedSocketPasses_AndIsNotRedirected()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 443, 53, 9000);
        using var local = new NetListener(lab.Runner, FirewallLab.HttpsPort, FirewallLab.DnsPort);

        foreach (var address in Peers)
        {
            Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, address, 443, FirewallLab.Open, marked: true));
            Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, address, 9000, FirewallLab.Open, marked: true));
            NetClient.SendUdp(lab.Runner, address, 53, "marked-dns-" + address, marked: true);
            Assert.NotNull(await peer.WaitForAsync(a => a.Payload == "marked-dns-" + address, FirewallLab.Open));
        }

        Assert.Equal(2, await peer.CountAsync(a => a.LocalPort == 443, 2, FirewallLab.Open));
        Assert.Empty(local.Arrivals);
        Assert.Empty(lab.Sink.Events.OfType<NetworkEvent>());
    }

    [SkippableFact]
    public async Task Block_DnsToAnyAddressIsRedirectedToTheLocalDnsPort()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 53);
        using var dns = new NetListener(lab.Runner, FirewallLab.DnsPort);

        foreach (var address in Peers.Append(IPAddress.Parse("8.8.8.8")).Append(IPAddress.Loopback))
        {
            NetClient.SendUdp(lab.Runner, address, 53, "query-" + address);
            Assert.NotNull(await dns.WaitForAsync(a => a.Transport == "udp" && a.Payload == "query-" + address, FirewallLab.Open));
        }

        foreach (var address in Peers)
        {
            Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, address, 53, FirewallLab.Open));
        }

        Assert.Equal(2, await dns.CountAsync(a => a.Transport == "tcp", 2, FirewallLab.Open));
        Assert.Empty(peer.Arrivals);
    }

    [SkippableFact]
    public async Task Block_WebPortsGoToTheProxyPorts_AndAClosedProxyPortRefuses()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 80, 443);
        using var proxy = new NetListener(lab.Runner, FirewallLab.HttpsPort); // nothing listens on the HTTP proxy port

        foreach (var address in Peers)
        {
            Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, address, 443, FirewallLab.Open));
            Assert.Equal(ConnectOutcome.Refused, await NetClient.ConnectAsync(lab.Runner, address, 80, FirewallLab.Open));
        }

        Assert.Equal(2, await proxy.CountAsync(_ => true, 2, FirewallLab.Open));
        Assert.Empty(peer.Arrivals);
    }

    [SkippableFact]
    public async Task Block_ARootProcessOfItsOwnIsBlockedToo()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 9000);

        var (code, output) = lab.Net.TryExec(lab.Runner, TimeSpan.FromSeconds(10), "python3", "-c",
            "import os,socket,sys\nassert os.geteuid()==0\ns=socket.socket(); s.settimeout(1)\ntry:\n s.connect(('192.0.2.2',9000)); print('connected')\nexcept OSError as e: print('blocked', e)");
        Assert.True(code == 0, output);
        Assert.StartsWith("blocked", output.Trim());
        Assert.Empty(peer.Arrivals);
    }
}
