using System.Net;
using System.Runtime.Versioning;
using HardenRunner.Netfilter;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

[SupportedOSPlatform("linux")]
public sealed class NftRulesetBuilderTests
{
    private static FirewallOptions Rich(EgressMode mode) => new()
    {
        Mode = mode,
        DnsPort = 15353,
        HttpProxyPort = 15080,
        HttpsProxyPort = 15443,
        StaticAllows =
        [
            new StaticAllow(IPNetwork.Parse("10.0.0.0/8"), null, Transport.Tcp),
            new StaticAllow(IPNetwork.Parse("10.1.0.0/16"), 443, Transport.Tcp), // inside the line above
            new StaticAllow(IPNetwork.Parse("10.1.0.0/16"), 443, Transport.Tcp), // duplicate
            new StaticAllow(IPNetwork.Parse("192.0.2.7/32"), 53, Transport.Udp),
            new StaticAllow(IPNetwork.Parse("2001:db8::/32"), 22, Transport.Tcp),
            new StaticAllow(IPNetwork.Parse("2001:db8::5/128"), null, Transport.Udp),
        ],
        UpstreamDns = [IPAddress.Parse("8.8.8.8"), IPAddress.Parse("::ffff:1.1.1.1"), IPAddress.Parse("2001:4860:4860::8888")],
    };

    private static IEnumerable<string> ChainRules(string script, string chain)
    {
        var lines = script.Split('\n');
        var start = Array.FindIndex(lines, l => l == $"\tchain {chain} {{");
        Assert.True(start >= 0, $"chain {chain} missing");
        for (var i = start + 1; lines[i] != "\t}"; i++)
        {
            yield return lines[i].Trim();
        }
    }

    [Fact]
    public void Build_ReplacesOnlyItsOwnTable_InOneScript()
    {
        var script = NftRulesetBuilder.Build(Rich(EgressMode.Block));

        Assert.StartsWith("add table inet harden_runner\ndelete table inet harden_runner\ntable inet harden_runner {\n", script);
        Assert.DoesNotContain("flush ruleset", script);
        var tables = script.Split('\n').Where(l => l.StartsWith("table ", StringComparison.Ordinal) || l.Contains(" table ", StringComparison.Ordinal)).Distinct();
        Assert.All(tables, l => Assert.Contains("inet harden_runner", l));
        Assert.Equal("add table inet harden_runner\ndelete table inet harden_runner\n", NftRulesetBuilder.BuildRemove());
    }

    [Fact]
    public void Build_BlockMode_OutputChain_IsExactlyTheReviewedOne()
    {
        var rules = ChainRules(NftRulesetBuilder.Build(Rich(EgressMode.Block)), "output").ToArray();

        Assert.Equal(
        [
            "type filter hook output priority -150; policy accept;",
            "oifname \"lo\" accept",
            "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept",
            "oifname \"docker0\" accept",
            "oifname \"br-*\" accept",
            "oifname \"cni*\" accept",
            "oifname \"podman*\" accept",
            "oifname \"cali*\" accept",
            "oifname \"lxc*\" accept",
            "ct state established,related accept",
            "ct state invalid drop",
            "meta mark 0x00004852 accept",
            "meta l4proto { tcp, udp } th dport 53 accept",
            "tcp dport { 80, 443 } accept",
            "udp sport 68 udp dport 67 accept",
            "udp sport 546 udp dport 547 accept",
            "jump egress",
        ], rules);
    }

    [Fact]
    public void Build_NeverExemptsByUid_AndNeverRedirectsMarkedTraffic()
    {
        var script = NftRulesetBuilder.Build(Rich(EgressMode.Block));

        Assert.DoesNotContain("skuid", script);
        Assert.DoesNotContain("skgid", script);
        var nat = ChainRules(script, "nat_output").ToList();
        Assert.Equal("meta mark 0x00004852 return", nat[1]);
        Assert.Equal("udp dport 53 redirect to :15353", nat[2]);
        Assert.Equal("tcp dport 53 redirect to :15353", nat[3]);
        Assert.Equal("tcp dport 443 redirect to :15443", nat[^1]);
        Assert.True(nat.IndexOf("fib daddr type local return") < nat.IndexOf("tcp dport 80 redirect to :15080"));
    }

    [Fact]
    public void Build_BlockAndAudit_DifferOnlyInVerdicts()
    {
        var block = NftRulesetBuilder.Build(Rich(EgressMode.Block));
        var audit = NftRulesetBuilder.Build(Rich(EgressMode.Audit));

        Assert.Contains("log prefix \"hr/deny/blocked\" group 18514 snaplen 128 drop", block);
        Assert.Contains("log prefix \"hr/deny/passed\" group 18514 snaplen 128 accept", audit);
        Assert.Contains("udp dport 443 goto deny_quic", block);
        Assert.DoesNotContain("quic", audit);
        Assert.Contains("ct state invalid accept", audit);

        // the guard and the redirects are the same in both modes
        Assert.Equal(ChainRules(block, "output_guard"), ChainRules(audit, "output_guard"));
        Assert.Equal(ChainRules(block, "nat_output"), ChainRules(audit, "nat_output"));
        Assert.Contains("reject with tcp reset", string.Join('\n', ChainRules(audit, "output_guard")));
    }

    [Fact]
    public void Build_StaticAllows_BecomeSetElements_WithoutContainedOnes()
    {
        var script = NftRulesetBuilder.Build(Rich(EgressMode.Block));

        Assert.Contains("elements = { 10.0.0.0/8 . tcp . 0-65535, 192.0.2.7 . udp . 53 }", script);
        Assert.Contains("elements = { 2001:db8::/32 . tcp . 22, 2001:db8::5 . udp . 0-65535 }", script);
        Assert.Contains("elements = { 8.8.8.8, 1.1.1.1 }", script);
        Assert.Contains("elements = { 2001:4860:4860::8888 }", script);
        Assert.DoesNotContain("10.1.0.0/16", script);
    }

    [Fact]
    public void StaticElements_KeepsPartlyOverlappingEntries_AndOneOfEqualOnes()
    {
        var list = NftRulesetBuilder.StaticElements(
        [
            new StaticAllow(IPNetwork.Parse("10.0.0.0/8"), 443, Transport.Tcp),
            new StaticAllow(IPNetwork.Parse("10.1.0.0/16"), null, Transport.Tcp),
            new StaticAllow(IPNetwork.Parse("10.1.0.0/16"), null, Transport.Udp),
            new StaticAllow(IPNetwork.Parse("10.2.0.0/16"), 443, Transport.Tcp),
        ], System.Net.Sockets.AddressFamily.InterNetwork);

        Assert.Equal(["10.0.0.0/8 . tcp . 443", "10.1.0.0/16 . tcp . 0-65535", "10.1.0.0/16 . udp . 0-65535"], list);
    }

    [Fact]
    public void Build_KeepsDynamicElements_InTheSameTransaction()
    {
        var keep = new[]
        {
            new AllowElementTimeout(new AllowElement(IPAddress.Parse("203.0.113.9"), Transport.Tcp, 22), TimeSpan.FromSeconds(41.2)),
            new AllowElementTimeout(new AllowElement(IPAddress.Parse("2001:db8::9"), Transport.Udp, 123), TimeSpan.FromSeconds(5)),
        };
        var script = NftRulesetBuilder.Build(Rich(EgressMode.Block), keep);

        var tail = script[script.LastIndexOf("\n}\n", StringComparison.Ordinal)..];
        Assert.Contains("add element inet harden_runner allow4 { 203.0.113.9 . tcp . 22 timeout 42s }", tail);
        Assert.Contains("add element inet harden_runner allow6 { 2001:db8::9 . udp . 123 timeout 5s }", tail);
    }

    [Fact]
    public void BuildAddElements_AddsDeletesAndAddsAgain_SoTimeoutsGrow()
    {
        var text = NftRulesetBuilder.BuildAddElements(
        [
            new AllowElementTimeout(new AllowElement(IPAddress.Parse("::ffff:192.0.2.10"), Transport.Tcp, 443), TimeSpan.FromSeconds(75)),
            new AllowElementTimeout(new AllowElement(IPAddress.Parse("192.0.2.11"), Transport.Udp, 53), TimeSpan.FromMilliseconds(10)),
        ]);

        Assert.Equal(
            "add element inet harden_runner allow4 { 192.0.2.10 . tcp . 443 timeout 1s, 192.0.2.11 . udp . 53 timeout 1s }\n" +
            "delete element inet harden_runner allow4 { 192.0.2.10 . tcp . 443, 192.0.2.11 . udp . 53 }\n" +
            "add element inet harden_runner allow4 { 192.0.2.10 . tcp . 443 timeout 75s, 192.0.2.11 . udp . 53 timeout 1s }\n",
            text);
        Assert.Equal("", NftRulesetBuilder.BuildAddElements([]));
    }

    [Theory]
    [InlineData("docker0\" accept")]
    [InlineData("br-*;flush ruleset")]
    [InlineData("averyveryverylongname")]
    [InlineData("*")]
    [InlineData("")]
    public void Validate_RejectsInterfaceNamesThatCouldInjectRules(string name)
    {
        var options = Rich(EgressMode.Block) with { BridgeInterfaces = [name] };
        Assert.Throws<ArgumentException>(() => NftRulesetBuilder.Build(options));
    }

    [Fact]
    public void Validate_RejectsBadPortsMarkAndTtls()
    {
        Assert.Throws<ArgumentException>(() => NftRulesetBuilder.Build(Rich(EgressMode.Block) with { DnsPort = 0 }));
        Assert.Throws<ArgumentException>(() => NftRulesetBuilder.Build(Rich(EgressMode.Block) with { Mark = 0 }));
        Assert.Throws<ArgumentException>(() => NftRulesetBuilder.Build(Rich(EgressMode.Block) with { StaticAllows = [new StaticAllow(IPNetwork.Parse("10.0.0.0/8"), 70000, Transport.Tcp)] }));
        Assert.Throws<ArgumentException>(() => NftRulesetBuilder.Build(Rich(EgressMode.Block) with { AllowTtlFloor = TimeSpan.FromMinutes(5), AllowTtlCap = TimeSpan.FromMinutes(1) }));
    }

    [SkippableTheory]
    [InlineData(EgressMode.Block)]
    [InlineData(EgressMode.Audit)]
    public void NftCheckMode_AcceptsTheGeneratedScript(EgressMode mode)
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        var keep = new[] { new AllowElementTimeout(new AllowElement(IPAddress.Parse("2001:db8::9"), Transport.Tcp, 22), TimeSpan.FromSeconds(30)) };
        var path = Path.Combine(Path.GetTempPath(), $"hr-nft-{Guid.NewGuid():N}.nft");
        File.WriteAllText(path, NftRulesetBuilder.Build(Rich(mode), keep) + NftRulesetBuilder.BuildAddElements(keep));
        try
        {
            // a private, empty network namespace that lives only as long as this nft process
            var (code, output) = NetnsFixture.RunRaw("unshare", ["--net", "nft", "-c", "-f", path], TimeSpan.FromSeconds(20));
            Assert.True(code == 0, output);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Build_InputChain_AdmitsOnlyLoopbackAndRedirectedFlowsToTheAppliancePorts()
    {
        var rules = ChainRules(NftRulesetBuilder.Build(Rich(EgressMode.Audit) with { ContainerDnsPort = 5301 }), "input").ToArray();
        Assert.Equal("type filter hook input priority 0; policy accept;", rules[0]);
        Assert.Equal("iifname \"lo\" accept", rules[1]);
        Assert.EndsWith("ct status dnat accept", rules[2], StringComparison.Ordinal);
        Assert.EndsWith("counter drop", rules[3], StringComparison.Ordinal);
        Assert.Contains("udp . 5301", rules[2], StringComparison.Ordinal);
        Assert.Equal(4, rules.Length);
    }

    [Fact]
    public void Build_ContainerDns_RedirectsToItsOwnPort_HostDnsToTheLoopbackPort()
    {
        var options = Rich(EgressMode.Block);
        var script = NftRulesetBuilder.Build(options with { ContainerDnsPort = 5301 });
        Assert.Contains($"udp dport 53 redirect to :{options.DnsPort}", ChainRules(script, "nat_output"));
        Assert.Contains("udp dport 53 redirect to :5301", ChainRules(script, "container_redirect"));
        Assert.Contains("tcp dport 53 redirect to :5301", ChainRules(script, "container_redirect"));
        // without its own port, containers use the DNS port
        Assert.Contains($"udp dport 53 redirect to :{options.DnsPort}", ChainRules(NftRulesetBuilder.Build(options), "container_redirect"));
    }

    [Theory]
    [InlineData(443, Transport.Tcp, false)]
    [InlineData(80, Transport.Tcp, false)]
    [InlineData(443, Transport.Udp, true)]
    [InlineData(22, Transport.Tcp, true)]
    [InlineData(8443, Transport.Tcp, true)]
    [InlineData(53, Transport.Udp, true)]
    public void ConsultsAllowSets_OnlyTheRedirectedWebPortsAreExempt(int port, Transport transport, bool consulted)
    {
        Assert.Equal(consulted, NftRulesetBuilder.ConsultsAllowSets(new PortGrant(port, transport)));

        // and the rules say the same: TCP to those ports is accepted before the allow sets and redirected to the proxy
        var script = NftRulesetBuilder.Build(Rich(EgressMode.Block));
        Assert.Contains($"tcp dport {{ {NftRulesetBuilder.HttpPort}, {NftRulesetBuilder.HttpsPort} }} accept", script);
        Assert.True(script.IndexOf("tcp dport { 80, 443 } accept", StringComparison.Ordinal) < script.IndexOf("jump egress", StringComparison.Ordinal));
    }

}
