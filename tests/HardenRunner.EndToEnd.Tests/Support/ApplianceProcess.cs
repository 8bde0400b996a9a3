using System.Text.Json;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests.Support;

/// <summary>The real <c>harden-runner</c> executable running inside a lab's runner namespaces.</summary>
internal sealed class ApplianceProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(45);

    private ApplianceProcess(TestLab lab, LabProcess process, string directory, string stateDir)
    {
        Lab = lab;
        Process = process;
        Directory = directory;
        StateDir = stateDir;
    }

    public TestLab Lab { get; }

    public LabProcess Process { get; }

    public string Directory { get; }

    public string StateDir { get; }

    public string PolicyPath => Path.Combine(Directory, "policy.yml");

    public string EventsPath => Path.Combine(StateDir, "events.jsonl");

    /// <summary>
    /// Writes the policy and starts <c>harden-runner run</c>; returns once the ready file exists. A null
    /// <paramref name="policyYaml"/> runs with no policy file at all (the embedded default).
    /// </summary>
    public static Task<ApplianceProcess> StartAsync(TestLab lab, string? policyYaml, params string[] extraArgs) =>
        StartAsync(lab, policyYaml, environment: null, stateDir: null, extraArgs);

    /// <summary>
    /// As above, with environment variables for the appliance (e.g. GITHUB_REPOSITORY) and a state directory that may
    /// be shared with earlier runs (null: a new one).
    /// </summary>
    public static async Task<ApplianceProcess> StartAsync(TestLab lab, string? policyYaml, IDictionary<string, string>? environment, string? stateDir, params string[] extraArgs)
    {
        var dir = Path.Combine(lab.WorkDirectory, "appliance-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        string[] policyArgs = [];
        if (policyYaml is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "policy.yml"), policyYaml);
            policyArgs = ["--policy", Path.Combine(dir, "policy.yml")];
        }

        var ready = Path.Combine(dir, "ready");
        var state = stateDir ?? Path.Combine(dir, "state");
        var process = lab.StartInRunner(
            HardenRunnerBinary.FileName,
            // the tests read the event stream as it is written (Events())
            HardenRunnerBinary.Args(["run", .. policyArgs, "--state-dir", state, "--ready-file", ready, "--events-jsonl", .. ConnectorArgs, .. extraArgs]),
            environment,
            workingDirectory: dir);
        var appliance = new ApplianceProcess(lab, process, dir, state);
        var deadline = DateTime.UtcNow + ReadyTimeout;
        while (!File.Exists(ready))
        {
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                var result = await process.WaitAsync(TimeSpan.FromSeconds(5));
                throw new InvalidOperationException($"the appliance did not become ready:\n{result}");
            }

            await Task.Delay(50);
        }

        return appliance;
    }

    /// <summary>The proc connector lives in the initial network namespace, which this test process is in (pid 1 here may not be readable).</summary>
    public static string[] ConnectorArgs => ["--proc-connector-netns", $"/proc/{Environment.ProcessId}/ns/net"];

    /// <summary>Every event written so far (events.jsonl).</summary>
    public IReadOnlyList<JsonElement> Events()
    {
        if (!File.Exists(EventsPath))
        {
            return [];
        }

        using var stream = new FileStream(EventsPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        var list = new List<JsonElement>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                list.Add(JsonDocument.Parse(line).RootElement.Clone());
            }
        }

        return list;
    }

    /// <summary>Waits until an event matches; fails listing what arrived.</summary>
    public async Task<JsonElement> WaitForEventAsync(Func<JsonElement, bool> predicate, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var events = Events();
            foreach (var e in events)
            {
                if (predicate(e))
                {
                    return e;
                }
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("no matching event; events so far:\n" + string.Join('\n', events.TakeLast(40).Select(e => e.GetRawText())));
            }

            await Task.Delay(100);
        }
    }

    /// <summary>
    /// The appliance's standard output once it contains <paramref name="text"/> (or, after <paramref name="timeout"/>,
    /// as it is): a line written before the ready file may still be in the pipe when the ready file appears.
    /// </summary>
    public async Task<string> WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Process.StandardOutput.Contains(text, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        return Process.StandardOutput;
    }

    /// <summary>SIGTERM and wait: the clean stop.</summary>
    public async Task<LabProcessResult> StopAsync()
    {
        Process.Terminate();
        return await Process.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Process.HasExited)
        {
            await StopAsync();
        }

        await Process.DisposeAsync();
    }
}

/// <summary>
/// The appliance the end-to-end tests run. By default the solution's build of harden-runner.dll (the test project
/// builds it, without referencing it), run under <c>dotnet</c>. <c>HARDEN_RUNNER_BINARY</c> names another one: the
/// Native AOT executable that the deployments ship (<c>dotnet publish src/HardenRunner.Cli -c Release -r linux-x64</c>;
/// CI tests that one) or a .dll.
/// </summary>
internal static class HardenRunnerBinary
{
    public const string EnvironmentVariable = "HARDEN_RUNNER_BINARY";

    /// <summary>The repository's root (the directory holding HardenRunner.sln).</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The executable or .dll under test.</summary>
    public static string Path { get; } = Find();

    /// <summary>True for a .dll, which runs under <c>dotnet</c>.</summary>
    public static bool IsDll => Path.EndsWith(".dll", StringComparison.Ordinal);

    /// <summary>The program to start: <c>dotnet</c> for a .dll, else the executable itself.</summary>
    public static string FileName => IsDll ? "dotnet" : Path;

    /// <summary>The arguments for <see cref="FileName"/>: the .dll first when there is one.</summary>
    public static string[] Args(params IEnumerable<string> arguments) => IsDll ? [Path, .. arguments] : [.. arguments];

    /// <summary>The whole command line (as the GitHub Action records it), e.g. <c>["dotnet", "…/harden-runner.dll"]</c>.</summary>
    public static string[] Command => [FileName, .. Args()];

    /// <summary>The command for a shell script (paths here hold no spaces or quotes).</summary>
    public static string Shell => string.Join(' ', Command);

    private static string FindRoot()
    {
        var testDir = AppContext.BaseDirectory; // …/tests/HardenRunner.EndToEnd.Tests/bin/<Configuration>/net10.0/
        var dir = new DirectoryInfo(testDir);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "HardenRunner.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (HardenRunner.sln) above " + testDir);
    }

    private static string Find()
    {
        var chosen = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(chosen))
        {
            var full = System.IO.Path.GetFullPath(chosen);
            return File.Exists(full) ? full : throw new InvalidOperationException($"{EnvironmentVariable}={chosen}: no such file");
        }

        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var dll = System.IO.Path.Combine(RepositoryRoot, "src", "HardenRunner.Cli", "bin", configuration, "net10.0", "harden-runner.dll");
        return File.Exists(dll) ? dll : throw new InvalidOperationException($"{dll} is missing; build the solution first");
    }
}
