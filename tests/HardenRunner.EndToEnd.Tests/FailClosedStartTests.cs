using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Issue #3, lifecycle: in block mode a policy that fails to load, or a component that fails to start, leaves egress
/// closed and exits non-zero saying how to recover; in audit mode (or when the mode is unknown) nothing is left
/// behind. The proof is on the lab's internet side (its DNS and TCP logs) and in the runner's ruleset.
/// </summary>
public sealed class FailClosedStartTests
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Quiet = EnforcementCoreTests.Quiet;

    /// <summary>
    /// A listener that takes a TCP port on every address ([::], dual-stack) in the runner namespace, so the
    /// appliance's component that wants it cannot bind. Bounded: it exits by itself after two minutes.
    /// </summary>
    private static async Task<LabProcess> SquatAsync(TestLab lab, int port)
    {
        const string script = """
            import socket, sys, time
            s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            s.bind(('::', int(sys.argv[1]))); s.listen(1)
            print('bound', flush=True)
            time.sleep(120)
            """;
        var squatter = lab.StartInRunner("python3", ["-c", script, port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!squatter.StandardOutput.Contains("bound", StringComparison.Ordinal))
        {
            if (squatter.HasExited || DateTime.UtcNow > deadline)
            {
                var result = await squatter.WaitAsync(TimeSpan.FromSeconds(2));
                throw new InvalidOperationException("the squatting listener did not bind: " + result);
            }

            await Task.Delay(50);
        }

        return squatter;
    }

    private static async Task<LabProcessResult> RunAsync(TestLab lab, string policyPath, string stateDir, params string[] extraArgs) =>
        await lab.RunInRunnerAsync(
            HardenRunnerBinary.FileName,
            HardenRunnerBinary.Args(["run", "--policy", policyPath, "--state-dir", stateDir, .. ApplianceProcess.ConnectorArgs, .. extraArgs]),
            RunTimeout);

    private static async Task<bool> TableExistsAsync(TestLab lab)
    {
        var list = await lab.RunInRunnerAsync("nft", ["list", "tables"], EnforcementCoreTests.ClientTimeout);
        Assert.True(list.Succeeded, list.ToString());
        return list.StandardOutput.Contains("inet harden_runner", StringComparison.Ordinal);
    }

    /// <summary>DNS exfiltration (through the system resolver and straight at the lab's resolver) and a raw TCP upload; neither may arrive.</summary>
    private static async Task AssertEgressClosedAsync(TestLab lab, string tag)
    {
        var label = "c2VjcmV0LWZhaWw." + EnforcementCoreTests.Unique(tag) + ".exfil.test";
        await EnforcementCoreTests.DigAsync(lab, label, "A");
        await EnforcementCoreTests.DigAsync(lab, "@" + lab.DnsV4, label, "TXT");
        var upload = EnforcementCoreTests.Unique(tag + "-tcp-");
        Assert.False((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, upload)).Succeeded, "a raw TCP upload connected");
        Assert.True(await lab.DnsLog.NoneWithinAsync(q => q.Name.Contains(label, StringComparison.OrdinalIgnoreCase), Quiet), "a DNS exfiltration query reached a lab resolver");
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(upload, StringComparison.Ordinal), Quiet), "a raw TCP upload reached the lab internet");
    }

    [SkippableTheory]
    [InlineData(15443, "the proxy (ports 15443 and 15080)")]
    [InlineData(53530, "the DNS server (port 53530")]
    public async Task Block_ComponentFailsToStart_ExitsNonZero_EgressStaysClosed_AndTheNextStartRecovers(int port, string component)
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var dir = Path.Combine(lab.WorkDirectory, "failsafe");
        Directory.CreateDirectory(dir);
        var policy = Path.Combine(dir, "policy.yml");
        await File.WriteAllTextAsync(policy, EnforcementCoreTests.Policy);
        var state = Path.Combine(dir, "state");

        await using (var squatter = await SquatAsync(lab, port))
        {
            var run = await RunAsync(lab, policy, state);
            Assert.Equal(1, run.ExitCode);
            Assert.Contains($"could not start: {component}", run.StandardError, StringComparison.Ordinal);
            Assert.Contains("block mode: egress stays closed", run.StandardError, StringComparison.Ordinal);
            Assert.Contains("start again", run.StandardError, StringComparison.Ordinal);
            Assert.Contains("'nft delete table inet harden_runner'", run.StandardError, StringComparison.Ordinal);

            // the process is gone; its table is not
            Assert.True(await TableExistsAsync(lab), "no table was left in block mode");
            await AssertEgressClosedAsync(lab, "blk" + port);
            squatter.Kill();
            await squatter.WaitAsync(TimeSpan.FromSeconds(10));
        }

        // the problem fixed, the next start replaces the table and enforces the policy; stop removes it
        await using var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy, environment: null, stateDir: state);
        Assert.Equal("198.51.100.10", (await EnforcementCoreTests.DigAsync(lab, "+short", "allowed.test", "A")).StandardOutput.Trim());
        var allowed = EnforcementCoreTests.Unique("recovered-");
        Assert.True((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.10", 22, allowed)).Succeeded);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(allowed, StringComparison.Ordinal), Quiet);
        await AssertEgressClosedAsync(lab, "again");
        var stop = await appliance.StopAsync();
        Assert.True(stop.ExitCode == 0, stop.ToString());
        Assert.False(await TableExistsAsync(lab), "stop left the table");
    }

    [SkippableTheory]
    [InlineData(15443, "the proxy (ports 15443 and 15080)")]
    [InlineData(53530, "the DNS server (port 53530")]
    public async Task Audit_ComponentFailsToStart_ExitsNonZero_AndLeavesNoTable(int port, string component)
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var dir = Path.Combine(lab.WorkDirectory, "failsafe");
        Directory.CreateDirectory(dir);
        var policy = Path.Combine(dir, "policy.yml");
        await File.WriteAllTextAsync(policy, EnforcementCoreTests.Policy.Replace("egress-policy: block", "egress-policy: audit", StringComparison.Ordinal));

        await using var squatter = await SquatAsync(lab, port);
        var run = await RunAsync(lab, policy, Path.Combine(dir, "state"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains($"could not start: {component}", run.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("egress stays closed", run.StandardError, StringComparison.Ordinal);
        Assert.False(await TableExistsAsync(lab), "a failed audit-mode start left its table");

        // nothing changed: the upload goes out as before the run
        var upload = EnforcementCoreTests.Unique("audit-open-");
        Assert.True((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, upload)).Succeeded);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(upload, StringComparison.Ordinal), Quiet);
    }

    [SkippableFact]
    public async Task Block_InvalidPolicy_ExitsTwo_WithTheProblems_AndLeavesEgressClosed()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var policy = Path.Combine(lab.WorkDirectory, "bad.yml");
        await File.WriteAllTextAsync(policy, "egress-policy: block\nallowed-endpoints: [\"*\"]\nallowed-cidrs:\n  - 198.51.100.0/33\n");

        var run = await RunAsync(lab, policy, Path.Combine(lab.WorkDirectory, "s"));
        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"{policy}:2:21: error: a bare '*'", run.StandardError, StringComparison.Ordinal);
        Assert.Contains($"{policy}:4:5: error: '198.51.100.0/33' is not a CIDR", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("block mode was requested (the policy file says egress-policy: block)", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("block mode: egress is closed", run.StandardError, StringComparison.Ordinal);
        Assert.Contains("'nft delete table inet harden_runner'", run.StandardError, StringComparison.Ordinal);
        Assert.True(await TableExistsAsync(lab), "no closed table in block mode");
        await AssertEgressClosedAsync(lab, "inv");

        // recovery by hand, as the message says
        var delete = await lab.RunInRunnerAsync("nft", ["delete", "table", "inet", "harden_runner"], EnforcementCoreTests.ClientTimeout);
        Assert.True(delete.Succeeded, delete.ToString());
        var upload = EnforcementCoreTests.Unique("reopened-");
        Assert.True((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, upload)).Succeeded);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(upload, StringComparison.Ordinal), Quiet);
    }

    [SkippableFact]
    public async Task Block_ByFlag_UnreadablePolicy_LeavesEgressClosed_ButWithoutTheFlag_ChangesNothing()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var policy = Path.Combine(lab.WorkDirectory, "broken.yml");
        await File.WriteAllTextAsync(policy, "egress-policy: block\nallowed-endpoints: [github.com\n");

        // a YAML syntax error: the file's mode cannot be read, so it is unknown and nothing changes
        var unknown = await RunAsync(lab, policy, Path.Combine(lab.WorkDirectory, "s1"));
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains($"{policy}:", unknown.StandardError, StringComparison.Ordinal);
        Assert.Contains("YAML syntax", unknown.StandardError, StringComparison.Ordinal);
        Assert.Contains("nothing was changed", unknown.StandardError, StringComparison.Ordinal);
        Assert.False(await TableExistsAsync(lab), "a policy of unknown mode left a table");

        // --egress-policy block on the command line: closed
        var flagged = await RunAsync(lab, policy, Path.Combine(lab.WorkDirectory, "s2"), "--egress-policy", "block");
        Assert.Equal(2, flagged.ExitCode);
        Assert.Contains("block mode was requested (--egress-policy block)", flagged.StandardError, StringComparison.Ordinal);
        Assert.True(await TableExistsAsync(lab), "no closed table with --egress-policy block");
        await AssertEgressClosedAsync(lab, "flag");

        // a corrected start in audit mode replaces the closed table, and its stop removes it
        await using (var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy, "--egress-policy", "audit"))
        {
            var upload = EnforcementCoreTests.Unique("audit-after-");
            Assert.True((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, upload)).Succeeded);
            await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(upload, StringComparison.Ordinal), Quiet);
            Assert.True((await appliance.StopAsync()).ExitCode == 0);
        }

        Assert.False(await TableExistsAsync(lab), "stop left the table");
    }
}
