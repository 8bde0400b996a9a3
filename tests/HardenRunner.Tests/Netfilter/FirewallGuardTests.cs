using System.Runtime.Versioning;
using HardenRunner.Events;
using HardenRunner.Netfilter;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>The guard against unredirected DNS/web flows and appliance loops, and container traffic (root only).</summary>
[SupportedOSPlatform("linux")]
public sealed class FirewallGuardTests
{
    [SkippableFact]
    public async Task Guard_RejectsAWebFlowThatEscapedTheRedirect_AndCountsIt()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 443, 53);

        // without the redirects (a step flushed them) the filter's "will be redirected" accept would let them out
        lab.Net.Exec(lab.Runner, "nft", "flush", "chain", "inet", "harden_runner", "nat_output");
        Assert.Equal(ConnectOutcome.Refused, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 443, FirewallLab.Open));
        Assert.Equal(ConnectOutcome.Refused, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV6, 443, FirewallLab.Open));
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4, 53, "dns-unredirected");

        await Task.Delay(300);
        Assert.Empty(peer.Arrivals);
        Assert.True(await lab.Firewall.ReadCounterAsync(NftNames.GuardUnredirected) >= 3);
        var e = await lab.Sink.WaitForAsync<NetworkEvent>(n => n.Port == 443 && n.Rule == NflogPrefix.RuleText(NflogPrefix.Guard), TimeSpan.FromSeconds(3));
        Assert.NotNull(e);
        Assert.Equal(NetworkEvent.Blocked, e.Action);
    }

    [SkippableFact]
    public async Task Guard_DropsAnApplianceFlowThatConntrackWouldRedirectIntoItself()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 53);
        using var dns = new NetListener(lab.Runner, FirewallLab.DnsPort);
        const int SourcePort = 40053;

        // a job's query from port 40053 is redirected; its conntrack entry (with the redirect) lives on
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4, 53, "job-query", localPort: SourcePort);
        Assert.NotNull(await dns.WaitForAsync(a => a.Payload == "job-query", FirewallLab.Open));

        // the appliance's marked upstream socket happens to get the same source port: conntrack reuses the entry
        NetClient.SendUdp(lab.Runner, NetnsFixture.PeerV4, 53, "appliance-query", marked: true, localPort: SourcePort);
        await Task.Delay(400);
        Assert.DoesNotContain(dns.Arrivals, a => a.Payload == "appliance-query");
        Assert.Equal(1, await lab.Firewall.ReadCounterAsync(NftNames.GuardLoop));
    }

    [SkippableFact]
    public async Task Containers_ForwardedTrafficIsFilteredAndDnsRedirected()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        var options = FirewallLab.Options() with
        {
            StaticAllows = [new StaticAllow(System.Net.IPNetwork.Parse("192.0.2.3/32"), 8080, Transport.Tcp)],
            BridgeInterfaces = [.. FirewallOptions.DefaultBridgeInterfaces, NetnsFixture.ContainerPattern],
        };
        await using var lab = await FirewallLab.StartAsync(options, withContainer: true);
        using var peer = new NetListener(lab.Net.Peer, 9000, 8080, 53, 443);
        using var local = new NetListener(lab.Runner, FirewallLab.DnsPort, FirewallLab.HttpsPort);
        var container = lab.Net.Container;

        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(container, NetnsFixture.PeerV4, 9000, FirewallLab.Blocked));
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(container, NetnsFixture.PeerV6, 9000, FirewallLab.Blocked));
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(container, NetnsFixture.PeerV4b, 8080, FirewallLab.Open));
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(container, NetnsFixture.PeerV4, 443, FirewallLab.Open)); // to the proxy port
        NetClient.SendUdp(container, NetnsFixture.PeerV4, 53, "container-dns");
        NetClient.SendUdp(container, NetnsFixture.PeerV6, 53, "container-dns6");

        Assert.NotNull(await local.WaitForAsync(a => a.Payload == "container-dns", FirewallLab.Open));
        Assert.NotNull(await local.WaitForAsync(a => a.Payload == "container-dns6", FirewallLab.Open));
        Assert.Equal(1, await local.CountAsync(a => a.LocalPort == FirewallLab.HttpsPort, 1, FirewallLab.Open));
        Assert.DoesNotContain(peer.Arrivals, a => a.LocalPort is 9000 or 53 or 443);
        var e = await lab.Sink.WaitForAsync<NetworkEvent>(n => n.Port == 9000 && n.Address == "192.0.2.2", TimeSpan.FromSeconds(3));
        Assert.NotNull(e);
        Assert.Contains(lab.Net.ContainerLink, e.Rule);
    }
}
