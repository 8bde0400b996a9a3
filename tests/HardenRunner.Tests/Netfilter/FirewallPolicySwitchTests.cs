using System.Runtime.Versioning;
using HardenRunner.Events;
using HardenRunner.Netfilter;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>A policy switch in place (service mode): the new table in one transaction, with only the new policy's allows (root only).</summary>
[SupportedOSPlatform("linux")]
public sealed class FirewallPolicySwitchTests
{
    [SkippableFact]
    public async Task FromAuditToBlock_NewFlowsAreHeld_AndOldAllowsAreGone()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options(EgressMode.Audit));
        using var peer = new NetListener(lab.Net.Peer, 9000, 9100);
        var oldPolicy = new object();
        await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, [new PortGrant(9100, Transport.Tcp)], TimeSpan.FromSeconds(300), oldPolicy);
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Open)); // audit

        var newPolicy = new object();
        await lab.Firewall.ReplacePolicyAsync(FirewallLab.Options(EgressMode.Block), newPolicy);

        // block now; the allow made under the old policy is gone with its table
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9000, FirewallLab.Blocked));
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9100, FirewallLab.Blocked));

        // an allow decided under the old policy is refused; one under the new policy is installed
        await Assert.ThrowsAsync<PolicyReplacedException>(() => lab.Firewall.AllowAsync(NetnsFixture.PeerV4, [new PortGrant(9100, Transport.Tcp)], TimeSpan.FromSeconds(300), oldPolicy));
        Assert.Equal(ConnectOutcome.TimedOut, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9100, FirewallLab.Blocked));
        await lab.Firewall.AllowAsync(NetnsFixture.PeerV4, [new PortGrant(9100, Transport.Tcp)], TimeSpan.FromSeconds(300), newPolicy);
        Assert.Equal(ConnectOutcome.Connected, await NetClient.ConnectAsync(lab.Runner, NetnsFixture.PeerV4, 9100, FirewallLab.Open));

        // verification compares against the new table: intact, nothing reported as tampering
        Assert.Null(await lab.Firewall.VerifyAsync());
        Assert.Equal(EgressMode.Block, lab.Firewall.Options.Mode);
        Assert.Empty(lab.Sink.Events.OfType<DetectionEvent>());
    }
}
