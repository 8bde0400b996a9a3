using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>Source-code integrity in the lab: a build step that rewrites a tracked file is caught and named; build output is not.</summary>
public sealed class SourceIntegrityTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [SkippableFact]
    public async Task StepRewritingTrackedSource_IsDetected_WithWriterAndStep_BuildOutputIsNot()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());

        // a checked-out workspace: src/app.c tracked, bin/ ignored
        var workspace = Path.Combine(lab.WorkDirectory, "workspace");
        Directory.CreateDirectory(Path.Combine(workspace, "src"));
        await File.WriteAllTextAsync(Path.Combine(workspace, "src", "app.c"), "int main(void) { return 0; }\n");
        await File.WriteAllTextAsync(Path.Combine(workspace, ".gitignore"), "bin/\n");
        var env = new Dictionary<string, string>
        {
            ["GIT_AUTHOR_NAME"] = "lab", ["GIT_AUTHOR_EMAIL"] = "lab@lab.test",
            ["GIT_COMMITTER_NAME"] = "lab", ["GIT_COMMITTER_EMAIL"] = "lab@lab.test",
        };
        foreach (var args in new[] { new[] { "init", "-q", workspace }, ["-C", workspace, "add", "."], ["-C", workspace, "commit", "-q", "-m", "checkout"] })
        {
            var git = await lab.RunInRunnerAsync("git", args, TimeSpan.FromSeconds(20), env);
            Assert.True(git.Succeeded, git.ToString());
        }

        await using var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy, "--workspace", workspace);

        // step "build" writes output; step "backdoor" (uses: evil/action) rewrites a tracked source file
        var job = $"""
            GITHUB_ACTION=build sh -c 'mkdir -p {workspace}/bin && echo obj > {workspace}/bin/app.o && echo same > /dev/null'
            GITHUB_ACTION=backdoor GITHUB_ACTION_REPOSITORY=evil/action sh -c 'echo "/* implant */" >> {workspace}/src/app.c; sleep 1'
            """;
        var run = await lab.RunInRunnerAsync("sh", ["-c", job], TimeSpan.FromSeconds(30));
        Assert.True(run.Succeeded, run.ToString());

        var d = await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "detection" && e.GetProperty("detection").GetString() == "source-overwritten", Wait);
        Assert.Contains("src/app.c", d.GetProperty("summary").GetString() + d.GetProperty("evidence").GetRawText(), StringComparison.Ordinal);
        Assert.Equal("backdoor", d.GetProperty("step").GetProperty("action").GetString());
        Assert.Equal("evil/action", d.GetProperty("step").GetProperty("uses").GetString());
        Assert.EndsWith("sh", d.GetProperty("process").GetProperty("exe").GetString(), StringComparison.Ordinal);

        await appliance.StopAsync();
        Assert.Single(appliance.Events(), e => e.GetProperty("type").GetString() == "detection" && e.GetProperty("detection").GetString() == "source-overwritten");
        Assert.Contains(appliance.Events(), e => e.GetProperty("type").GetString() == "file" && (e.GetProperty("path").GetString() ?? "").EndsWith("src/app.c", StringComparison.Ordinal) && e.GetProperty("tracked").GetBoolean());
    }
}
