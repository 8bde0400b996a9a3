using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

namespace HardenRunner.Tests.Store;

/// <summary>A private temporary directory, removed at dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("hr-store-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Sample events of every kind, with and without attribution.</summary>
public static class SampleEvents
{
    public static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static ProcessInfo Curl(int pid = 4242) => new(
        pid,
        "/usr/bin/curl",
        "curl -sS https://allowed.test/upload",
        [new AncestorInfo(4200, "/usr/bin/bash"), new AncestorInfo(1000, "/home/runner/actions-runner/bin/Runner.Worker")]);

    public static StepInfo Step() => new("__run_2", null);

    public static StepInfo ActionStep() => new("actions_checkout", "actions/checkout");

    public static NetworkEvent Https(int i = 0, Decision decision = Decision.Allow, string action = NetworkEvent.Passed) =>
        new(T0.AddMilliseconds(i), "https", "allowed.test", "10.99.0.2", 443, decision, action, "allowed-endpoints: allowed.test:443", "POST", $"/upload/{i}")
        {
            Process = Curl(),
            Step = Step(),
        };

    public static NetworkEvent Dns(int i = 0) =>
        new(T0.AddMilliseconds(i), "dns", "allowed.test", null, 53, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: allowed.test:443", QueryType: "A");

    public static NetworkEvent TcpByAddress(int i = 0) =>
        new(T0.AddMilliseconds(i), "tcp", null, "203.0.113.7", 4444, Decision.Deny, NetworkEvent.Blocked, "not allowed: no endpoint for 203.0.113.7:4444");

    public static DetectionEvent Detection(int i = 0) =>
        new(T0.AddMilliseconds(i), "firewall-tampered", "high", "The firewall table inet harden_runner was changed by a job step", new Dictionary<string, string>
        {
            ["table"] = "inet harden_runner",
            ["repaired"] = "true",
        })
        {
            Process = new ProcessInfo(77, "/usr/sbin/nft", "nft flush ruleset"),
            Step = ActionStep(),
        };

    public static ProcessEvent Exec(int i = 0) =>
        new(T0.AddMilliseconds(i), 5000 + i, 4200, "/usr/bin/git", "git fetch origin", T0.AddMilliseconds(i - 1), 1001, 1001, Step());

    public static FileEvent FileWrite(int i = 0) =>
        new(T0.AddMilliseconds(i), $"/home/runner/work/app/app/src/index{i}.js", FileEvent.Modify, true, Curl(), Step());

    public static IReadOnlyList<ApplianceEvent> OneOfEach() => [Https(1), Dns(2), TcpByAddress(3), Detection(4), Exec(5), FileWrite(6)];

    public static RunInfo Run(string id, DateTimeOffset? started = null, EgressMode mode = EgressMode.Block, string? repo = "acme/web", string? workflow = "ci", string? job = "build") =>
        new(id, started ?? T0, mode) { Repository = repo, Workflow = workflow, Job = job, GitHubRunId = "987654321", HostName = "runner-7" };

    /// <summary>A canonical JSON form of an event (records with lists/dictionaries compare by reference).</summary>
    public static string Canonical(ApplianceEvent e) => JsonSerializer.Serialize(e, e.GetType());
}
