using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary><c>harden-runner start | status | stop</c> as a CI job uses them: the appliance outlives the step that started it.</summary>
public sealed class CliLifecycleTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private static Task<LabProcessResult> Cli(TestLab lab, IDictionary<string, string>? env, params string[] args) =>
        lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args([.. args]), CommandTimeout, env);

    [SkippableFact]
    public async Task StartStatusStop_EnforcesInBackground_AndAppendsTheStepSummary()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var dir = Path.Combine(lab.WorkDirectory, "job");
        Directory.CreateDirectory(Path.Combine(dir, ".harden"));
        await File.WriteAllTextAsync(Path.Combine(dir, ".harden", "policy.yml"), EnforcementCoreTests.Policy);
        var state = Path.Combine(dir, "state");
        var summaryFile = Path.Combine(dir, "step-summary.md");
        await File.WriteAllTextAsync(summaryFile, "# earlier step\n");
        var env = new Dictionary<string, string> { ["GITHUB_WORKSPACE"] = dir, ["GITHUB_STEP_SUMMARY"] = summaryFile, ["GITHUB_ACTIONS"] = "true" };

        var notYet = await Cli(lab, env, "status", "--state-dir", state);
        Assert.Equal(1, notYet.ExitCode);

        // the policy comes from $GITHUB_WORKSPACE/.harden/policy.yml
        var start = await Cli(lab, env, "start", "--state-dir", state);
        Assert.True(start.ExitCode == 0, start.ToString());
        Assert.Contains("block mode", start.StandardOutput, StringComparison.Ordinal);

        var status = await Cli(lab, env, "status", "--state-dir", state, "--wait", "5");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains("\"ready\":true", status.StandardOutput, StringComparison.Ordinal);

        var again = await Cli(lab, env, "start", "--state-dir", state);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already running", again.StandardError, StringComparison.Ordinal);

        // another state directory, in audit mode, in the same network namespace: refused before it changes anything
        // (its table would replace the running appliance's, and its failed audit start would then remove it)
        var audit = Path.Combine(dir, "audit.yml");
        await File.WriteAllTextAsync(audit, "egress-policy: audit\n");
        var second = await Cli(lab, env, "start", "--policy", audit, "--state-dir", Path.Combine(dir, "state2"));
        Assert.Equal(1, second.ExitCode);
        Assert.Contains("another appliance (pid ", second.StandardError, StringComparison.Ordinal);
        Assert.Contains("nothing was changed", second.StandardError, StringComparison.Ordinal);

        // enforcement is in place after start returned
        var dig = await EnforcementCoreTests.DigAsync(lab, "c2VjcmV0.cli.exfil.test", "A");
        Assert.Contains("status: NXDOMAIN", dig.StandardOutput, StringComparison.Ordinal);
        var payload = EnforcementCoreTests.Unique("cli-");
        Assert.False((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, payload)).Succeeded);

        var stop = await Cli(lab, env, "stop", "--state-dir", state);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        // the store is the record: no JSON-lines stream unless asked for (--events-jsonl)
        Assert.True(File.Exists(Path.Combine(state, "harden-runner.db")), string.Join(", ", Directory.EnumerateFiles(state)));
        Assert.False(File.Exists(Path.Combine(state, "events.jsonl")));
        Assert.Contains("## HardenRunner", stop.StandardOutput, StringComparison.Ordinal);
        var summary = await File.ReadAllTextAsync(summaryFile);
        Assert.StartsWith("# earlier step\n## HardenRunner: block mode", summary, StringComparison.Ordinal);
        Assert.Contains("| 198.51.100.20 | 9000 | **blocked** |", summary, StringComparison.Ordinal);

        // under GitHub Actions the recorded text is fenced from workflow commands, and the log says where the report is
        Assert.Matches("(?m)^::stop-commands::[0-9a-f]{32}$", stop.StandardOutput);
        var html = Path.Combine(state, "report.html");
        Assert.Contains($"View security insights and recommended policy at: {html}", stop.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("198.51.100.20", await File.ReadAllTextAsync(html), StringComparison.Ordinal);

        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], CommandTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(1, (await Cli(lab, env, "status", "--state-dir", state)).ExitCode);
        Assert.Equal(1, (await Cli(lab, env, "stop", "--state-dir", state)).ExitCode);
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(payload, StringComparison.Ordinal), TimeSpan.FromSeconds(1)));
    }

    [SkippableFact]
    public async Task Start_InvalidPolicy_FailsWithTheReason_AndLeavesNothingRunning()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var policy = Path.Combine(lab.WorkDirectory, "bad.yml");
        await File.WriteAllTextAsync(policy, "egress-policy: block\nallowed-endpoints:\n  - github.com:70000\n");
        var state = Path.Combine(lab.WorkDirectory, "state");

        var start = await Cli(lab, null, "start", "--policy", policy, "--state-dir", state);
        Assert.Equal(2, start.ExitCode);
        Assert.Contains($"{policy}:3:5: error: 'github.com:70000': port '70000' must be a number from 1 to 65535", start.StandardError, StringComparison.Ordinal);
        Assert.Equal(1, (await Cli(lab, null, "status", "--state-dir", state)).ExitCode);

        // the file asked for block mode: egress is left closed (the closed table), and start says how to recover
        Assert.Contains("block mode: egress is closed", start.StandardError, StringComparison.Ordinal);
        Assert.Contains("'nft delete table inet harden_runner'", start.StandardError, StringComparison.Ordinal);
        var payload = EnforcementCoreTests.Unique("cli-invalid-");
        Assert.False((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, payload)).Succeeded);
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(payload, StringComparison.Ordinal), TimeSpan.FromSeconds(1)));

        // fixed, it starts (replacing the closed table) and its stop removes the table
        await File.WriteAllTextAsync(policy, "egress-policy: block\nallowed-endpoints:\n  - allowed.test:22\n");
        var again = await Cli(lab, null, "start", "--policy", policy, "--state-dir", state);
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Equal("198.51.100.10", (await EnforcementCoreTests.DigAsync(lab, "+short", "allowed.test", "A")).StandardOutput.Trim());
        var stop = await Cli(lab, null, "stop", "--state-dir", state);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], CommandTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);
    }
}
