using System.Text.Json;
using System.Text.RegularExpressions;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Service mode in the lab: one <c>harden-runner service</c> appliance, two consecutive simulated jobs (a stand-in
/// <c>Runner.Listener</c> starting a stand-in <c>Runner.Worker</c>, each job with its own workspace and
/// <c>.harden/policy.yml</c>: the first opts into block mode, the second is audit). Each job becomes its own run
/// with its own policy, coordinates and report.
/// </summary>
public sealed partial class ServiceModeTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"job run (\S+) \(worker pid")]
    private static partial Regex JobRunLine();

    [SkippableFact]
    public async Task TwoConsecutiveJobs_AreTwoRuns_WithTheirOwnPoliciesAndReports()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var (dir, state, ready, bin) = ServiceDirectories(lab);

        // no machine policy: between jobs the embedded default (audit) applies
        await using var service = StartService(lab, dir, state, ready);
        var machineRun = await WaitForReadyAsync(service, ready, _ => true);

        var job1 = await RunJobAsync(lab, service, dir, bin, ready, "one", "egress-policy: block\nallowed-endpoints:\n  - allowed.test:443\n", machineRun);
        var job2 = await RunJobAsync(lab, service, dir, bin, ready, "two", "egress-policy: audit\n", job1.RunId);

        Assert.NotEqual(job1.RunId, job2.RunId);
        Assert.NotEqual(machineRun, job1.RunId);

        // block: the allowed endpoint worked, the denied name did not resolve; audit: both went through
        Assert.Equal("0", job1.AllowedExit);
        Assert.NotEqual("0", job1.DeniedDnsExit);
        Assert.Equal("0", job2.AllowedExit);
        Assert.Equal("0", job2.DeniedDnsExit);

        service.Terminate();
        var stopped = await service.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], EnforcementCoreTests.ClientTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);

        // each job is its own run in the store, with its policy, its coordinates and its events
        using var r1 = await ReportAsync(lab, state, job1.RunId);
        var run1 = r1.RootElement.GetProperty("run");
        Assert.Equal(job1.RunId, run1.GetProperty("id").GetString());
        Assert.Equal("block", run1.GetProperty("egressPolicy").GetString());
        Assert.Equal("lab/job-one", run1.GetProperty("repository").GetString());
        Assert.Contains(r1.RootElement.GetProperty("network").EnumerateArray(), n => Is(n, "dns", "exfil.test", "blocked"));

        using var r2 = await ReportAsync(lab, state, job2.RunId);
        var run2 = r2.RootElement.GetProperty("run");
        Assert.Equal("audit", run2.GetProperty("egressPolicy").GetString());
        Assert.Equal("lab/job-two", run2.GetProperty("repository").GetString());
        Assert.Contains(r2.RootElement.GetProperty("network").EnumerateArray(), n => Is(n, "dns", "exfil.test", "passed"));
        Assert.DoesNotContain(r2.RootElement.GetProperty("network").EnumerateArray(), n => Is(n, "dns", "exfil.test", "blocked"));
        // job one's events are not in job two's run and the other way round
        Assert.DoesNotContain(r1.RootElement.GetProperty("network").EnumerateArray(), n => Is(n, "dns", "exfil.test", "passed"));
    }

    [SkippableFact]
    public async Task InvalidJobPolicy_RunsInAudit_WithAPolicyInvalidDetection_AndTheServiceKeepsRunning()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var (dir, state, ready, bin) = ServiceDirectories(lab);
        await using var service = StartService(lab, dir, state, ready);
        var machineRun = await WaitForReadyAsync(service, ready, _ => true);

        var job = await RunJobAsync(lab, service, dir, bin, ready, "bad", "egress-policy: block\nallowed-endpoints: [\"*\"]\n", machineRun);
        Assert.Equal("0", job.DeniedDnsExit); // audit: nothing blocked
        Assert.False(service.HasExited, service.StandardError);

        service.Terminate();
        var stopped = await service.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        using var report = await ReportAsync(lab, state, job.RunId);
        Assert.Equal("audit", report.RootElement.GetProperty("run").GetProperty("egressPolicy").GetString());
        Assert.Contains(report.RootElement.GetProperty("detections").EnumerateArray(), d => d.GetProperty("type").GetString() == "policy-invalid");
    }

    private sealed record JobResult(string RunId, string AllowedExit, string DeniedDnsExit);

    private static bool Is(JsonElement n, string kind, string host, string action) =>
        n.GetProperty("kind").GetString() == kind
        && string.Equals(n.GetProperty("host").GetString(), host, StringComparison.OrdinalIgnoreCase)
        && n.GetProperty("action").GetString() == action;

    /// <summary>
    /// One simulated job: the listener starts the worker (not exec'd: the worker stays the listener's child), the
    /// worker waits until the test has seen the job's run enforcing, then runs its steps and records their exit codes.
    /// </summary>
    private static async Task<JobResult> RunJobAsync(TestLab lab, LabProcess service, string dir, string bin, string ready, string name, string policy, string previousRun)
    {
        var workspace = Path.Combine(dir, "ws-" + name);
        Directory.CreateDirectory(Path.Combine(workspace, ".harden"));
        await File.WriteAllTextAsync(Path.Combine(workspace, ".harden", "policy.yml"), policy);
        var go = Path.Combine(workspace, "go");
        var steps = $"""
            for i in $(seq 600); do [ -f {go} ] && break; sleep 0.1; done
            curl -sS --max-time 10 -o /dev/null https://allowed.test/{name}; echo $? > {workspace}/allowed.rc
            getent hosts exfil.test > /dev/null; echo $? > {workspace}/denied.rc
            true
            """;
        var listener = $"""
            GITHUB_WORKSPACE={workspace} GITHUB_REPOSITORY=lab/job-{name} GITHUB_JOB={name} {bin}/Runner.Worker -c '{steps.Replace("'", "'\\''", StringComparison.Ordinal)}'
            true
            """;
        await using var job = lab.StartInRunner(Path.Combine(bin, "Runner.Listener"), ["-c", listener]);

        // the service switches to the job's run; once that run is enforcing (its ready file), the steps may start
        var runId = await WaitForJobRunAsync(service, previousRun);
        await WaitForReadyAsync(service, ready, id => id == runId);
        await File.WriteAllTextAsync(go, "");
        var result = await job.WaitAsync(Wait);
        Assert.True(result.ExitCode == 0, result.ToString());

        // back to the machine policy: a new run becomes ready after the job's
        await WaitForReadyAsync(service, ready, id => id != runId);
        return new JobResult(
            runId,
            (await File.ReadAllTextAsync(Path.Combine(workspace, "allowed.rc"))).Trim(),
            (await File.ReadAllTextAsync(Path.Combine(workspace, "denied.rc"))).Trim());
    }

    private static async Task<string> WaitForJobRunAsync(LabProcess service, string previousRun)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline && !service.HasExited)
        {
            var ids = JobRunLine().Matches(service.StandardOutput).Select(m => m.Groups[1].Value).ToList();
            var index = ids.IndexOf(previousRun);
            if (ids.Count > 0 && index < ids.Count - 1)
            {
                return ids[^1];
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the service did not start a job run:\n" + service.StandardOutput + "\n" + service.StandardError);
    }

    /// <summary>Waits until the ready file (written whole: the id and a newline) names an accepted run and returns it.</summary>
    private static async Task<string> WaitForReadyAsync(LabProcess service, string ready, Func<string, bool> accept)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline && !service.HasExited)
        {
            var text = File.Exists(ready) ? await File.ReadAllTextAsync(ready) : "";
            if (text.EndsWith('\n') && text.Trim() is { Length: > 0 } id && accept(id))
            {
                return id;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the service did not become ready with a new run:\n" + service.StandardOutput + "\n" + service.StandardError);
    }

    /// <summary>A directory for one service: its state, ready file, and stand-in runner programs (copies of bash named like the runner's).</summary>
    private static (string Dir, string State, string Ready, string Bin) ServiceDirectories(TestLab lab)
    {
        var dir = Path.Combine(lab.WorkDirectory, "service-" + Guid.NewGuid().ToString("N")[..8]);
        var bin = Path.Combine(dir, "runner");
        Directory.CreateDirectory(bin);
        File.Copy("/bin/bash", Path.Combine(bin, "Runner.Listener"));
        File.Copy("/bin/bash", Path.Combine(bin, "Runner.Worker"));
        return (dir, Path.Combine(dir, "state"), Path.Combine(dir, "ready"), bin);
    }

    private static LabProcess StartService(TestLab lab, string dir, string state, string ready) => lab.StartInRunner(
        "dotnet",
        [HardenRunnerBinary.Path, "service", "--state-dir", state, "--ready-file", ready, "--upstream-ca", lab.CaCertificatePath, .. ApplianceProcess.ConnectorArgs],
        workingDirectory: dir);

    private static async Task<JsonDocument> ReportAsync(TestLab lab, string state, string runId)
    {
        var report = await lab.RunInRunnerAsync("dotnet", [HardenRunnerBinary.Path, "report", "--run", runId, "--format", "json", "--state-dir", state], EnforcementCoreTests.ClientTimeout);
        Assert.True(report.Succeeded, report.ToString());
        return JsonDocument.Parse(report.StandardOutput);
    }
}
