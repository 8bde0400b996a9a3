using System.Text.Json;
using System.Text.RegularExpressions;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Service mode in the lab: one <c>harden-runner service</c> appliance, two consecutive simulated jobs shaped like
/// GitHub's runner: a stand-in <c>Runner.Listener</c> starts a stand-in <c>Runner.Worker</c> whose own environment
/// has no GITHUB_* values; the worker starts step processes that have them; the workspace is empty until a
/// "checkout" step writes <c>.harden/policy.yml</c>. Each job becomes its own run, starts in audit mode, and gets the
/// policy of its file in place once the file appears: the first job's file opts into block mode (and a later step
/// that loosens it is refused), the second job's is audit.
/// </summary>
public sealed partial class ServiceModeTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [GeneratedRegex(@"job run (\S+) \(worker pid")]
    private static partial Regex JobRunLine();

    [SkippableFact]
    public async Task TwoConsecutiveJobs_AreTwoRuns_WithTheirOwnPoliciesPutInForceWhenCheckedOut()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var (dir, state, ready, bin) = ServiceDirectories(lab);

        // no machine policy: between jobs the embedded default (audit) applies
        await using var service = StartService(lab, dir, state, ready);
        var machineRun = await WaitForReadyAsync(service, ready, _ => true);

        var job1 = await RunJobAsync(
            lab, service, dir, bin, ready, "one",
            "egress-policy: block\nallowed-endpoints:\n  - allowed.test:443\n",
            "is in force, block mode",
            machineRun,
            loosened: "egress-policy: audit\nallowed-endpoints:\n  - allowed.test:443\n  - exfil.test:443\n");
        var job2 = await RunJobAsync(lab, service, dir, bin, ready, "two", "egress-policy: audit\n", "is in force, audit mode", job1.RunId);

        Assert.NotEqual(job1.RunId, job2.RunId);
        Assert.NotEqual(machineRun, job1.RunId);

        // before its checkout each job is audit; after it, job one blocks (and keeps blocking when a step loosens the
        // file), job two still passes everything
        Assert.Equal("0", job1.Codes["before"]);
        Assert.Equal("0", job1.Codes["allowed"]);
        Assert.NotEqual("0", job1.Codes["denied"]);
        Assert.NotEqual("0", job1.Codes["loosened"]);
        Assert.Equal("0", job2.Codes["before"]);
        Assert.Equal("0", job2.Codes["allowed"]);
        Assert.Equal("0", job2.Codes["denied"]);

        service.Terminate();
        var stopped = await service.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], EnforcementCoreTests.ClientTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);

        // each job is its own run in the store, with its policy, its coordinates (from its step process) and its events
        using var r1 = await ReportAsync(lab, state, job1.RunId);
        var run1 = r1.RootElement.GetProperty("run");
        Assert.Equal(job1.RunId, run1.GetProperty("id").GetString());
        Assert.Equal("block", run1.GetProperty("egressPolicy").GetString());
        Assert.Equal("lab/job-one", run1.GetProperty("repository").GetString());
        var network1 = r1.RootElement.GetProperty("network").EnumerateArray().ToList();
        Assert.Contains(network1, n => Is(n, "dns", "exfil.test", "passed")); // before the checkout
        Assert.Contains(network1, n => Is(n, "dns", "exfil.test", "blocked")); // after it
        var detections1 = r1.RootElement.GetProperty("detections").EnumerateArray().Select(d => d.GetProperty("type").GetString()).ToList();
        Assert.Contains("job-policy-applied", detections1);
        Assert.Contains("policy-file-changed", detections1);

        using var r2 = await ReportAsync(lab, state, job2.RunId);
        var run2 = r2.RootElement.GetProperty("run");
        Assert.Equal("audit", run2.GetProperty("egressPolicy").GetString());
        Assert.Equal("lab/job-two", run2.GetProperty("repository").GetString());
        Assert.Contains(r2.RootElement.GetProperty("network").EnumerateArray(), n => Is(n, "dns", "exfil.test", "passed"));
        Assert.DoesNotContain(r2.RootElement.GetProperty("network").EnumerateArray(), n => Is(n, "dns", "exfil.test", "blocked"));
        Assert.DoesNotContain(r2.RootElement.GetProperty("detections").EnumerateArray(), d => d.GetProperty("type").GetString() == "policy-file-changed");
    }

    [SkippableFact]
    public async Task InvalidJobPolicy_RunsInAudit_WithAPolicyInvalidDetection_AndTheServiceKeepsRunning()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var (dir, state, ready, bin) = ServiceDirectories(lab);
        await using var service = StartService(lab, dir, state, ready);
        var machineRun = await WaitForReadyAsync(service, ready, _ => true);

        var job = await RunJobAsync(lab, service, dir, bin, ready, "bad", "egress-policy: block\nallowed-endpoints: [\"*\"]\n", "is invalid; audit mode continues", machineRun);
        Assert.Equal("0", job.Codes["denied"]); // audit: nothing blocked
        Assert.False(service.HasExited, service.StandardError);

        service.Terminate();
        var stopped = await service.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        using var report = await ReportAsync(lab, state, job.RunId);
        Assert.Equal("audit", report.RootElement.GetProperty("run").GetProperty("egressPolicy").GetString());
        Assert.Contains(report.RootElement.GetProperty("detections").EnumerateArray(), d => d.GetProperty("type").GetString() == "policy-invalid");
    }

    private sealed record JobResult(string RunId, IReadOnlyDictionary<string, string> Codes);

    private static bool Is(JsonElement n, string kind, string host, string action) =>
        n.GetProperty("kind").GetString() == kind
        && string.Equals(n.GetProperty("host").GetString(), host, StringComparison.OrdinalIgnoreCase)
        && n.GetProperty("action").GetString() == action;

    /// <summary>
    /// One simulated job. The listener starts the worker (not exec'd: the worker stays the listener's child) without
    /// any GITHUB_* value; the worker starts one step process that has them. The step waits until the test saw the
    /// job's run enforcing, resolves the denied name (before the checkout), "checks out" the policy file, waits until
    /// the service logged <paramref name="policyLine"/> for the run, then runs its requests; with
    /// <paramref name="loosened"/> it then rewrites the file, waits for the service to refuse that change, and
    /// resolves the denied name again. Exit codes land in files named by phase.
    /// </summary>
    private static async Task<JobResult> RunJobAsync(TestLab lab, LabProcess service, string dir, string bin, string ready, string name, string policy, string policyLine, string previousRun, string? loosened = null)
    {
        var workspace = Path.Combine(dir, "ws-" + name);
        Directory.CreateDirectory(workspace);
        var policyFile = Path.Combine(dir, $"policy-{name}.yml");
        await File.WriteAllTextAsync(policyFile, policy);
        var looseFile = Path.Combine(dir, $"loose-{name}.yml");
        if (loosened is not null)
        {
            await File.WriteAllTextAsync(looseFile, loosened);
        }

        string WaitFor(string flag) => $"for i in $(seq 600); do [ -f {dir}/{flag}-{name} ] && break; sleep 0.1; done";
        var step = Path.Combine(dir, $"step-{name}.sh");
        await File.WriteAllTextAsync(step, $"""
            {WaitFor("go")}
            getent hosts exfil.test > /dev/null; echo $? > {dir}/before-{name}.rc
            mkdir -p {workspace}/.harden && cp {policyFile} {workspace}/.harden/policy.yml
            {WaitFor("checked-out")}
            curl -sS --max-time 10 -o /dev/null https://allowed.test/{name}; echo $? > {dir}/allowed-{name}.rc
            getent hosts exfil.test > /dev/null; echo $? > {dir}/denied-{name}.rc
            if [ -f {looseFile} ]; then
              cp {looseFile} {workspace}/.harden/policy.yml
              {WaitFor("loosened")}
              getent hosts exfil.test > /dev/null; echo $? > {dir}/loosened-{name}.rc
            fi
            true
            """);
        var worker = Path.Combine(dir, $"worker-{name}.sh");
        await File.WriteAllTextAsync(worker, $"""
            GITHUB_WORKSPACE={workspace} GITHUB_REPOSITORY=lab/job-{name} GITHUB_JOB={name} /bin/bash {step}
            true
            """);
        var listener = $"env -u GITHUB_WORKSPACE -u GITHUB_REPOSITORY -u GITHUB_JOB {bin}/Runner.Worker {worker}; true";
        await using var job = lab.StartInRunner(Path.Combine(bin, "Runner.Listener"), ["-c", listener]);

        // the service switches to the job's run; once that run is enforcing (its ready file), the steps may start
        var runId = await WaitForJobRunAsync(service, previousRun);
        await WaitForReadyAsync(service, ready, id => id == runId);
        await File.WriteAllTextAsync(Path.Combine(dir, "go-" + name), "");
        await WaitForLogAsync(service, $"job run {runId}: ", policyLine);
        await File.WriteAllTextAsync(Path.Combine(dir, "checked-out-" + name), "");
        if (loosened is not null)
        {
            await WaitForLogAsync(service, $"job run {runId}: ", "changed after it was put in force");
            await File.WriteAllTextAsync(Path.Combine(dir, "loosened-" + name), "");
        }

        var result = await job.WaitAsync(Wait);
        Assert.True(result.ExitCode == 0, result.ToString());

        // back to the machine policy: a new run becomes ready after the job's
        await WaitForReadyAsync(service, ready, id => id != runId);
        var codes = new Dictionary<string, string>();
        foreach (var phase in new[] { "before", "allowed", "denied", "loosened" })
        {
            var file = Path.Combine(dir, $"{phase}-{name}.rc");
            if (File.Exists(file))
            {
                codes[phase] = (await File.ReadAllTextAsync(file)).Trim();
            }
        }

        return new JobResult(runId, codes);
    }

    private static async Task WaitForLogAsync(LabProcess service, string prefix, string text)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (DateTime.UtcNow < deadline && !service.HasExited)
        {
            if (service.StandardOutput.Split('\n').Any(l => l.Contains(prefix, StringComparison.Ordinal) && l.Contains(text, StringComparison.Ordinal)))
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the service did not log '{prefix}…{text}':\n" + service.StandardOutput + "\n" + service.StandardError);
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
        HardenRunnerBinary.FileName,
        HardenRunnerBinary.Args(["service", "--state-dir", state, "--ready-file", ready, "--upstream-ca", lab.CaCertificatePath, .. ApplianceProcess.ConnectorArgs]),
        workingDirectory: dir);

    private static async Task<JsonDocument> ReportAsync(TestLab lab, string state, string runId)
    {
        var report = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["report", "--run", runId, "--format", "json", "--state-dir", state]), EnforcementCoreTests.ClientTimeout);
        Assert.True(report.Succeeded, report.ToString());
        return JsonDocument.Parse(report.StandardOutput);
    }
}
