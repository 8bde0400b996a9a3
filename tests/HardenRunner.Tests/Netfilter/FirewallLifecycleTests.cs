using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using HardenRunner.Events;
using HardenRunner.Netfilter;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>Audit mode, tamper verification and repair, removal, fail-closed without the process (root only).</summary>
[SupportedOSPlatform("linux")]
public sealed partial class FirewallLifecycleTests
{
    [SkippableFact]
    public async Task Audit_LetsTheSameFlowsThrough_AndStillEmitsEvents()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options(EgressMode.Audit));
        using var peer = new NetListener(lab.Net.Peer, 9000, 443);
        using var dns = new NetListener(lab.Runner, FirewallLab.DnsPort);

        foreach (var address in new[] { NetnsFixture.PeerV4, NetnsFixture.PeerV6 })
        {
            Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, address, 9000, FirewallLab.Open));
            NetClient.SendUdp(lab.Runner, address, 9000, "audit-" + address);
            NetClient.SendUdp(lab.Runner, address, 443, "quic-" + address);
            NetClient.SendUdp(lab.Runner, address, 53, "dns-" + address);
            Assert.NotNull(await peer.WaitForAsync(a => a.Payload == "audit-" + address, FirewallLab.Open));
            Assert.NotNull(await peer.WaitForAsync(a => a.Payload == "quic-" + address, FirewallLab.Open));
            Assert.NotNull(await dns.WaitForAsync(a => a.Payload == "dns-" + address, FirewallLab.Open)); // still redirected
            foreach (var (kind, port) in new[] { ("tcp", 9000), ("udp", 9000), ("udp", 443) })
            {
                var e = await lab.Sink.WaitForAsync<NetworkEvent>(n => n.Kind == kind && n.Port == port && n.Address == address.ToString(), TimeSpan.FromSeconds(3));
                Assert.NotNull(e);
                Assert.Equal(Decision.Deny, e.Decision);
                Assert.Equal(NetworkEvent.Passed, e.Action);
            }
        }

        Assert.DoesNotContain(peer.Arrivals, a => a.LocalPort == 53);
    }

    [SkippableFact]
    public async Task Verify_DetectsADeletedRule_RepairsIt_AndKeepsDynamicAllows()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 9000, 9100);
        await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, [new PortGrant(9100, Transport.Tcp)], TimeSpan.FromSeconds(300));
        Assert.Null(await lab.Firewall.VerifyAsync());

        // a job step with root deletes the final drop
        var handle = HandleOf(lab, "egress", "goto deny");
        lab.Net.Exec(lab.Runner, "nft", "delete", "rule", "inet", "harden_runner", "egress", "handle", handle);
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Open));

        var reason = await lab.Firewall.VerifyAsync();
        Assert.NotNull(reason);
        Assert.StartsWith("ruleset changed", reason);
        var detection = Assert.Single(lab.Sink.Events.OfType<DetectionEvent>());
        Assert.Equal("firewall-tampered", detection.Type);
        Assert.Equal("high", detection.Severity);
        Assert.Equal("true", detection.Evidence["repaired"]);

        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Blocked));
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9100, FirewallLab.Open));
        Assert.Null(await lab.Firewall.VerifyAsync());
        Assert.Equal(1, lab.Firewall.TamperCount);
    }

    [SkippableFact]
    public async Task Verify_DetectsADeletedTable_AndAForeignAllowElement()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 9000);

        lab.Net.Exec(lab.Runner, "nft", "delete", "table", "inet", "harden_runner");
        Assert.Equal("table deleted", await lab.Firewall.VerifyAsync());
        Assert.Contains("table inet harden_runner", lab.ListRuleset());

        lab.Net.Exec(lab.Runner, "nft", "add", "element", "inet", "harden_runner", "allow4", "{ 192.0.2.2 . tcp . 9000 }");
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Open));
        var reason = await lab.Firewall.VerifyAsync();
        Assert.NotNull(reason);
        Assert.Contains("192.0.2.2 . tcp . 9000", reason);
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Blocked));
        Assert.Equal(2, lab.Sink.Events.OfType<DetectionEvent>().Count(d => d.Type == Firewall.TamperDetection));
    }

    [SkippableFact]
    public async Task Verify_RunsPeriodicallyWithoutBeingAsked()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options() with { VerifyInterval = TimeSpan.FromMilliseconds(300) });

        lab.Net.Exec(lab.Runner, "nft", "flush", "chain", "inet", "harden_runner", "nat_output");
        var detection = await lab.Sink.WaitForAsync<DetectionEvent>(d => d.Type == Firewall.TamperDetection, TimeSpan.FromSeconds(5));
        Assert.NotNull(detection);
        Assert.Contains("redirect to :15353", lab.ListRuleset());
    }

    [SkippableFact]
    public async Task Remove_DeletesOnlyItsOwnTable()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var peer = new NetListener(lab.Net.Peer, 9000);
        lab.Net.Exec(lab.Runner, "nft", "add", "table", "inet", "hrdecoy");

        await lab.Firewall.RemoveAsync();

        var tables = lab.Net.Exec(lab.Runner, "nft", "list", "tables");
        Assert.DoesNotContain("harden_runner", tables);
        Assert.Contains("inet hrdecoy", tables);
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Open));
        await lab.Firewall.RemoveAsync(); // idempotent
        await Assert.ThrowsAsync<InvalidOperationException>(() => lab.Firewall.ApplyAsync());
    }

    [SkippableFact]
    public async Task WithoutTheProcess_BlockModeStaysClosed()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        var lab = await FirewallLab.StartAsync(FirewallLab.Options());
        using var net = lab.Net;
        using var peer = new NetListener(net.Peer, 9000, 53, 443);

        // the appliance goes away without cleaning up (as after kill -9): every user-space part is gone
        lab.Reader.Dispose();
        await lab.Firewall.DisposeAsync();
        lab.Nft.Dispose();

        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(net.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Blocked));
        Assert.Equal(ConnectOutcome.Refused, await NetClient.ConnectAsync(net.Runner, NetnsFixture.PeerV4, 443, FirewallLab.Open)); // proxy port closed
        Assert.Equal(ConnectOutcome.Refused, await NetClient.ConnectAsync(net.Runner, NetnsFixture.PeerV6, 53, FirewallLab.Open)); // DNS port closed
        NetClient.SendUdp(net.Runner, NetnsFixture.PeerV4, 53, "dns-without-appliance");
        await Task.Delay(300);
        Assert.Empty(peer.Arrivals);
    }

    private static string HandleOf(FirewallLab lab, string chain, string ruleText)
    {
        var listing = lab.Net.Exec(lab.Runner, "nft", "-a", "list", "chain", "inet", "harden_runner", chain);
        foreach (var line in listing.Split('\n'))
        {
            if (line.Contains(ruleText + " # handle", StringComparison.Ordinal))
            {
                return HandlePattern().Match(line).Groups[1].Value;
            }
        }

        throw new InvalidOperationException($"no rule '{ruleText}' in chain {chain}:\n{listing}");
    }

    [GeneratedRegex(@"# handle (\d+)")]
    private static partial Regex HandlePattern();
}
