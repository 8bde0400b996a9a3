using System.Runtime.Versioning;
using HardenRunner.Hosting;
using HardenRunner.Netfilter;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Hosting;

[SupportedOSPlatform("linux")]
public sealed class FailClosedStartTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-failclosed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

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

    private string Policy(string yaml)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".yml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void ClosedTable_IsTheFirewallsBlockTable_WithNothingAllowed()
    {
        var options = FailClosedStart.ClosedTableOptions(ApplianceOptions.DefaultDnsPort);

        Assert.Equal(EgressMode.Block, options.Mode);
        Assert.Empty(options.StaticAllows);
        Assert.Empty(options.UpstreamDns);
        Assert.Equal((ApplianceOptions.DefaultDnsPort, ApplianceOptions.DefaultDnsPort + 1), (options.DnsPort, options.EffectiveContainerDnsPort));
        Assert.Equal((Appliance.HttpProxyPort, Appliance.HttpsProxyPort), (options.HttpProxyPort, options.HttpsProxyPort));

        var script = NftRulesetBuilder.Build(options);
        Assert.StartsWith("add table inet harden_runner\ndelete table inet harden_runner\ntable inet harden_runner {\n", script);
        Assert.DoesNotContain("elements =", script, StringComparison.Ordinal); // no static allow, no resolver
        Assert.Equal("goto deny", ChainRules(script, "egress").Last());
        Assert.EndsWith(" drop", Assert.Single(ChainRules(script, "deny")), StringComparison.Ordinal);
        Assert.Contains("udp dport 53 redirect to :53530", ChainRules(script, "nat_output"));
    }

    [Fact]
    public void ContainerDnsPort_IsTheNextPort_OrThePreviousAtTheTop()
    {
        Assert.Equal(53531, FailClosedStart.ContainerDnsPort(53530));
        Assert.Equal(65534, FailClosedStart.ContainerDnsPort(65535));
    }

    [Fact]
    public void RequestedMode_TheFlagWins_ElseTheFilesOwnEgressPolicy_ElseUnknown()
    {
        var blockButInvalid = Policy("egress-policy: block\nallowed-endpoints: [\"*\"]\n");
        var auditButInvalid = Policy("egress-policy: audit\nallowed-endpoints: [\"*\"]\n");
        var unreadable = Policy("egress-policy: block\nallowed-endpoints: [github.com\n");
        Func<string, string?> noEnv = _ => null;

        Assert.Equal(EgressMode.Block, FailClosedStart.RequestedMode(new ApplianceOptions { PolicyPath = blockButInvalid }, noEnv, _dir));
        Assert.Equal(EgressMode.Audit, FailClosedStart.RequestedMode(new ApplianceOptions { PolicyPath = auditButInvalid }, noEnv, _dir));
        Assert.Null(FailClosedStart.RequestedMode(new ApplianceOptions { PolicyPath = unreadable }, noEnv, _dir));
        Assert.Null(FailClosedStart.RequestedMode(new ApplianceOptions { PolicyPath = Path.Combine(_dir, "missing.yml") }, noEnv, _dir));
        Assert.Null(FailClosedStart.RequestedMode(new ApplianceOptions(), noEnv, _dir)); // no file: the embedded default

        Assert.Equal(EgressMode.Block, FailClosedStart.RequestedMode(new ApplianceOptions { PolicyPath = unreadable, EgressOverride = EgressMode.Block }, noEnv, _dir));
        Assert.Equal(EgressMode.Audit, FailClosedStart.RequestedMode(new ApplianceOptions { PolicyPath = blockButInvalid, EgressOverride = EgressMode.Audit }, noEnv, _dir));

        // the workspace's file, as a CI job finds it
        Directory.CreateDirectory(Path.Combine(_dir, "ws", ".harden"));
        File.WriteAllText(Path.Combine(_dir, "ws", ".harden", "policy.yml"), "egress-policy: block\nunknown-key: 1\n");
        Assert.Equal(EgressMode.Block, FailClosedStart.RequestedMode(new ApplianceOptions(), k => k == "GITHUB_WORKSPACE" ? Path.Combine(_dir, "ws") : null, _dir));
    }

    // Only the audit and unknown paths run here: the block path installs a table, which only the lab's e2e tests may do.
    [Theory]
    [InlineData("egress-policy: audit\nallowed-endpoints: [\"*\"]\n")]
    [InlineData("egress-policy: block\nallowed-endpoints: [github.com\n")]
    [InlineData("egress-policy: blok\n")]
    public async Task RefuseInvalidPolicy_AuditOrUnknown_ChangesNothing_AndExitsTwo(string yaml)
    {
        var stderr = new StringWriter();
        var code = await FailClosedStart.RefuseInvalidPolicyAsync(new ApplianceOptions { PolicyPath = Policy(yaml) }, stderr, _ => null, _dir);

        Assert.Equal(2, code);
        Assert.Equal("harden-runner: refusing to start: the policy is invalid (see above); nothing was changed." + Environment.NewLine, stderr.ToString());
    }
}
