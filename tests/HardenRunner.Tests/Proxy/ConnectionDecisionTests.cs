using System.Net;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy.Connection;

namespace HardenRunner.Tests.Proxy;

public sealed class ConnectionDecisionTests
{
    private static readonly IPEndPoint Dst = new(IPAddress.Parse("198.51.100.10"), 443);
    private static readonly IPEndPoint AllowedAddress = new(IPAddress.Parse("10.20.1.2"), 443);

    private static readonly PolicyEngine Policy = Load("""
        allowed-endpoints:
          - allowed.test:443
          - pinned.test:443
        allowed-cidrs:
          - 10.20.0.0/16:443
        tls:
          passthrough: [pinned.test]
        """);

    private static PolicyEngine Load(string yaml)
    {
        var r = PolicyLoader.Parse(yaml, "t.yml");
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return new PolicyEngine(r.Policy!);
    }

    private static ClientHelloResult Hello(string? sni) => ClientHelloResult.Ok(new ClientHelloInfo(sni, true, true, default));

    [Theory]
    [InlineData(EgressMode.Block)]
    [InlineData(EgressMode.Audit)]
    public void Decide_AllowedSni_Intercepts(EgressMode mode)
    {
        var d = ConnectionDecision.Decide(Policy, mode, Dst, Hello("allowed.test"));
        Assert.Equal(ConnectionAction.Intercept, d.Action);
        Assert.True(d.Verdict.IsAllowed);
        Assert.False(d.Record);
    }

    [Fact]
    public void Decide_DeniedSniBlockMode_RejectsWithAlert()
    {
        var d = ConnectionDecision.Decide(Policy, EgressMode.Block, Dst, Hello("exfil.test"));
        Assert.Equal(ConnectionAction.Reject, d.Action);
        Assert.True(d.SendAlert);
        Assert.Equal(PolicyEngine.RuleNotAllowed, d.Verdict.Rule);
    }

    [Fact]
    public void Decide_DeniedSniAuditMode_InterceptsSoRequestsAreRecorded()
    {
        var d = ConnectionDecision.Decide(Policy, EgressMode.Audit, Dst, Hello("exfil.test"));
        Assert.Equal(ConnectionAction.Intercept, d.Action);
        Assert.False(d.Verdict.IsAllowed);
    }

    [Fact]
    public void Decide_AllowedSniOnOtherPort_Rejected()
    {
        var d = ConnectionDecision.Decide(Policy, EgressMode.Block, new IPEndPoint(Dst.Address, 8443), Hello("allowed.test"));
        Assert.Equal(ConnectionAction.Reject, d.Action);
    }

    [Fact]
    public void Decide_PassthroughHost_SplicesByName()
    {
        var d = ConnectionDecision.Decide(Policy, EgressMode.Block, Dst, Hello("pinned.test"));
        Assert.Equal(ConnectionAction.Splice, d.Action);
        Assert.True(d.SpliceByName);
        Assert.Equal("pinned.test", d.Host);
    }

    public static TheoryData<string> Nameless => ["no sni", "not tls", "malformed", "incomplete"];

    private static ClientHelloResult Peek(string why) => why switch
    {
        "no sni" => Hello(null),
        "not tls" => ClientHelloResult.NotTls("not TLS"),
        "malformed" => ClientHelloResult.Malformed("ClientHello cannot be parsed"),
        _ => new ClientHelloResult(ClientHelloStatus.NeedMore, 0, null, "no complete ClientHello within 10 s"),
    };

    [Theory]
    [MemberData(nameof(Nameless))]
    public void Decide_NamelessBlockMode_RejectsUnlessAddressAllowed(string why)
    {
        var peek = Peek(why);
        var d = ConnectionDecision.Decide(Policy, EgressMode.Block, Dst, peek);
        Assert.True(d.Action == ConnectionAction.Reject, why);
        Assert.False(d.Verdict.IsAllowed);
        Assert.Contains(PolicyEngine.RuleAddressNotAllowed, d.Verdict.Rule, StringComparison.Ordinal);

        var allowed = ConnectionDecision.Decide(Policy, EgressMode.Block, AllowedAddress, peek);
        Assert.Equal(ConnectionAction.Splice, allowed.Action);
        Assert.False(allowed.SpliceByName);
        Assert.True(allowed.Verdict.IsAllowed);
        Assert.Contains("allowed-cidrs: 10.20.0.0/16:443", allowed.Verdict.Rule, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Nameless))]
    public void Decide_NamelessAuditMode_SplicesToTheAddressAndRecordsDeny(string why)
    {
        var peek = Peek(why);
        var d = ConnectionDecision.Decide(Policy, EgressMode.Audit, Dst, peek);
        Assert.True(d.Action == ConnectionAction.Splice, why);
        Assert.False(d.SpliceByName);
        Assert.False(d.Verdict.IsAllowed);
        Assert.True(d.Record);
    }

    [Fact]
    public void Decide_NotTls_ClosesWithoutAlert()
    {
        Assert.False(ConnectionDecision.Decide(Policy, EgressMode.Block, Dst, ClientHelloResult.NotTls("x")).SendAlert);
        Assert.True(ConnectionDecision.Decide(Policy, EgressMode.Block, Dst, Hello(null)).SendAlert);
    }
}
