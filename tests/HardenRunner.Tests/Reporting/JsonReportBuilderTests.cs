using System.Text;
using System.Text.Json.Nodes;
using HardenRunner.Events;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;
using HardenRunner.Reporting;
using HardenRunner.Store;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Reporting;

public sealed class JsonReportBuilderTests : IAsyncLifetime
{
    private const string Token = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";

    private StoreFixture _fixture = null!;

    public Task InitializeAsync()
    {
        _fixture = StoreFixture.Create();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task Report_HasExactlyTheDesignShape_AndMatchesTheSchema()
    {
        var run = await RecordRunAsync("r1", EgressMode.Block, SampleEvents.OneOfEach());
        var json = await JsonReportBuilder.BuildAsync(_fixture.Store, run);
        ReportSchema.AssertValid(json);

        var report = ReportSchema.Parse(json);
        Assert.Equal(
            ["schemaVersion", "run", "network", "files", "processes", "detections", "recommendedPolicy", "tokenPermissions", "tokenPermissionsDetail"],
            report.Select(p => p.Key));
        Assert.Equal(1, (int)report["schemaVersion"]!);

        var r = report["run"]!.AsObject();
        Assert.Equal(["id", "startedAt", "endedAt", "egressPolicy", "repository", "workflow", "job", "runId"], r.Select(p => p.Key));
        Assert.Equal("r1", (string?)r["id"]);
        Assert.Equal("2025-03-01T12:00:00.0000000Z", (string?)r["startedAt"]);
        Assert.Equal("2025-03-01T12:10:00.0000000Z", (string?)r["endedAt"]);
        Assert.Equal("block", (string?)r["egressPolicy"]);
        Assert.Equal("acme/web", (string?)r["repository"]);
        Assert.Equal("ci", (string?)r["workflow"]);
        Assert.Equal("build", (string?)r["job"]);
        Assert.Equal("987654321", (string?)r["runId"]);

        var network = report["network"]!.AsArray();
        Assert.Equal(3, network.Count);
        var https = network[0]!.AsObject();
        Assert.Equal(
            ["time", "kind", "host", "address", "port", "method", "path", "decision", "action", "rule", "process", "step"],
            https.Select(p => p.Key));
        Assert.Equal("https", (string?)https["kind"]);
        Assert.Equal("allowed.test", (string?)https["host"]);
        Assert.Equal("10.99.0.2", (string?)https["address"]);
        Assert.Equal(443, (int)https["port"]!);
        Assert.Equal("POST", (string?)https["method"]);
        Assert.Equal("/upload/1", (string?)https["path"]);
        Assert.Equal("allow", (string?)https["decision"]);
        Assert.Equal("passed", (string?)https["action"]);
        Assert.Equal("allowed-endpoints: allowed.test:443", (string?)https["rule"]);
        var process = https["process"]!.AsObject();
        Assert.Equal(["pid", "exe", "cmdline", "ancestors"], process.Select(p => p.Key));
        Assert.Equal(4242, (int)process["pid"]!);
        Assert.Equal("/usr/bin/bash", (string?)process["ancestors"]![0]!["exe"]);
        Assert.Equal("__run_2", (string?)https["step"]!["action"]);
        Assert.Null(https["step"]!["uses"]);

        var dns = network[1]!.AsObject();
        Assert.Null(dns["address"]);
        Assert.Null(dns["method"]);
        Assert.Null(dns["process"]);
        Assert.Null(dns["step"]);
        var tcp = network[2]!.AsObject();
        Assert.Null(tcp["host"]);
        Assert.Equal("deny", (string?)tcp["decision"]);
        Assert.Equal("blocked", (string?)tcp["action"]);

        var file = Assert.Single(report["files"]!.AsArray())!.AsObject();
        Assert.Equal(["time", "path", "operation", "tracked", "process", "step"], file.Select(p => p.Key));
        Assert.Equal("modify", (string?)file["operation"]);
        Assert.True((bool)file["tracked"]!);

        var proc = Assert.Single(report["processes"]!.AsArray())!.AsObject();
        Assert.Equal(["pid", "ppid", "exe", "cmdline", "start", "step"], proc.Select(p => p.Key));
        Assert.Equal(5005, (int)proc["pid"]!);
        Assert.Equal(4200, (int)proc["ppid"]!);
        Assert.Equal("git fetch origin", (string?)proc["cmdline"]);

        var detection = Assert.Single(report["detections"]!.AsArray())!.AsObject();
        Assert.Equal(["type", "severity", "summary", "process", "step", "evidence"], detection.Select(p => p.Key));
        Assert.Equal("firewall-tampered", (string?)detection["type"]);
        Assert.Equal("high", (string?)detection["severity"]);
        Assert.Equal("inet harden_runner", (string?)detection["evidence"]!["table"]);
        Assert.Equal("actions/checkout", (string?)detection["step"]!["uses"]);

        Assert.IsType<string>((string?)report["recommendedPolicy"]);
        Assert.Empty(report["tokenPermissions"]!.AsObject());
    }

    [Fact]
    public async Task AuditMode_DeniedRequest_IsDecisionDenyActionPassed()
    {
        var run = await RecordRunAsync("audit", EgressMode.Audit, [SampleEvents.Https(1, Decision.Deny, NetworkEvent.Passed) with { Host = "exfil.test", Rule = "not allowed: no endpoint for exfil.test:443" }]);
        var json = await JsonReportBuilder.BuildAsync(_fixture.Store, run);
        ReportSchema.AssertValid(json);
        var report = ReportSchema.Parse(json);
        Assert.Equal("audit", (string?)report["run"]!["egressPolicy"]);
        var n = Assert.Single(report["network"]!.AsArray())!;
        Assert.Equal("deny", (string?)n["decision"]);
        Assert.Equal("passed", (string?)n["action"]);
    }

    [Fact]
    public async Task Secrets_NeverAppear_InAnyPartOfTheReport()
    {
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("x-access-token:" + Token));
        var gitCmd = $"/usr/bin/git -c http.https://github.com/.extraheader=\"AUTHORIZATION: basic {basic}\" fetch origin";
        var attributed = new ProcessInfo(900, "/usr/bin/git", gitCmd, [new AncestorInfo(1, $"/tmp/{Token}/sh")]);
        ApplianceEvent[] events =
        [
            SampleEvents.Https(1) with { Path = $"/upload?token={Token}&name=x", Process = attributed, Host = $"{Token.ToLowerInvariant()}.exfil.test" },
            new ProcessEvent(SampleEvents.T0, 900, 1, "/usr/bin/git", gitCmd, SampleEvents.T0, 1001, 1001, new StepInfo($"step_{Token}", null)),
            new FileEvent(SampleEvents.T0, $"/home/runner/{Token}.txt", FileEvent.Create, false, attributed),
            new DetectionEvent(SampleEvents.T0, "dns-exfiltration", "critical", $"query carried {Token}", new Dictionary<string, string>
            {
                ["Authorization"] = "Bearer abcdef0123",
                ["cookie"] = "sid=feedface",
                ["query"] = $"{Token}.exfil.test",
            }) { Process = attributed },
        ];
        var run = await RecordRunAsync("secret", EgressMode.Block, events);
        var json = await JsonReportBuilder.BuildAsync(_fixture.Store, run);
        ReportSchema.AssertValid(json);
        foreach (var secret in (string[])[Token, Token.ToLowerInvariant(), basic, "abcdef0123", "feedface", Token[4..]])
        {
            Assert.DoesNotContain(secret, json, StringComparison.Ordinal);
        }

        Assert.Contains("AUTHORIZATION: basic [REDACTED]", json, StringComparison.Ordinal);

        // and not in the database file either (the store redacts before writing)
        await _fixture.Store.DisposeAsync();
        var bytes = Encoding.UTF8.GetString(await File.ReadAllBytesAsync(_fixture.Store.DatabasePath))
            + Encoding.UTF8.GetString(File.Exists(_fixture.Store.DatabasePath + "-wal") ? await File.ReadAllBytesAsync(_fixture.Store.DatabasePath + "-wal") : []);
        Assert.DoesNotContain(Token[4..], bytes, StringComparison.Ordinal);
        Assert.DoesNotContain(basic, bytes, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AProcessInAPod_IsReportedWithItsContainer_ValidAndShownInTheViews()
    {
        var pod = new ContainerInfo("containerd", new string('c', 64), "web-7d4b9c-xk2p", "0d2d4a3e-6f1b-4c5d-9e8f-7a6b5c4d3e2f", "ci-jobs");
        var docker = new ContainerInfo("docker", new string('d', 64), "dddddddddddd", null, null);
        var inPod = new ProcessInfo(70, "/usr/bin/curl", "curl https://exfil.test", [new AncestorInfo(69, "/bin/sh")]) { Container = pod };
        ApplianceEvent[] events =
        [
            SampleEvents.Https(1, Decision.Deny, NetworkEvent.Blocked) with { Process = inPod },
            SampleEvents.Https(2) with { Process = new ProcessInfo(71, "/usr/bin/wget", "wget x") { Container = docker } },
            new DetectionEvent(SampleEvents.T0, "egress-blocked", "high", "blocked", new Dictionary<string, string>()) { Process = inPod },
        ];
        var run = await RecordRunAsync("pod", EgressMode.Block, events);
        var json = await JsonReportBuilder.BuildAsync(_fixture.Store, run);
        ReportSchema.AssertValid(json);
        var c = ReportSchema.Parse(json)["network"]!.AsArray().Select(n => n!["process"]!["container"]).First(x => x is not null)!;
        Assert.Equal("containerd", (string?)c["runtime"]);
        Assert.Equal("ci-jobs", (string?)c["podNamespace"]);

        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(json));
        var report = await HardenRunner.Reporting.Views.RunReportLoader.ReadAsync(stream);
        var html = HardenRunner.Reporting.Views.HtmlReport.Render(report);
        Assert.Contains("curl (70, pod ci-jobs/web-7d4b9c-xk2p)", html, StringComparison.Ordinal);
        Assert.Contains("wget (71, container dddddddddddd)", html, StringComparison.Ordinal);
        Assert.Contains(@"curl \(70, pod ci-jobs/web-7d4b9c-xk2p\)", HardenRunner.Reporting.Views.MarkdownSummary.Render(report), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmptyRun_StillRunning_IsAValidReport()
    {
        await _fixture.Store.BeginRunAsync(new RunInfo("empty", SampleEvents.T0, EgressMode.Audit));
        var run = (await _fixture.Store.GetRunAsync("empty"))!;
        var json = await JsonReportBuilder.BuildAsync(_fixture.Store, run);
        ReportSchema.AssertValid(json);
        var report = ReportSchema.Parse(json);
        Assert.Null(report["run"]!["endedAt"]);
        Assert.Null(report["run"]!["repository"]);
        Assert.Empty(report["network"]!.AsArray());
        Assert.Empty(report["detections"]!.AsArray());
    }

    [Fact]
    public async Task RecommendedPolicy_ListsReachedNamedEndpoints_AndIsAValidPolicy()
    {
        ApplianceEvent[] events =
        [
            SampleEvents.Dns(1),
            SampleEvents.Https(2),
            SampleEvents.Https(3) with { Host = "Registry.NPMJS.org.", Port = 443 },
            SampleEvents.Https(4, Decision.Deny, NetworkEvent.Passed) with { Host = "audit-only.test" },
            SampleEvents.Https(5, Decision.Deny, NetworkEvent.Blocked) with { Host = "exfil.test" },
            new NetworkEvent(SampleEvents.T0, "tcp", "ssh.github.com", "140.82.112.36", 22, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: ssh.github.com:22"),
            SampleEvents.TcpByAddress(6),
            new NetworkEvent(SampleEvents.T0, "dns", "only-resolved.test", null, 53, Decision.Allow, NetworkEvent.Passed, "r"),
        ];
        var run = await RecordRunAsync("rec", EgressMode.Audit, events);
        var report = ReportSchema.Parse(await JsonReportBuilder.BuildAsync(_fixture.Store, run));
        var yaml = (string)report["recommendedPolicy"]!;

        var load = PolicyLoader.Parse(yaml, "recommendedPolicy");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics) + "\n" + yaml);
        var endpoints = load.Policy!.AllowedEndpoints.Select(e => e.ToString()).ToList();
        Assert.Equal(EgressMode.Block, load.Policy.EgressPolicy);
        Assert.Equal(4, load.Policy.AllowedEndpoints.Count);
        Assert.Contains("allowed.test:443", yaml, StringComparison.Ordinal);
        Assert.Contains("\"registry.npmjs.org:443\"", yaml, StringComparison.Ordinal);
        Assert.Contains("\"audit-only.test:443\"", yaml, StringComparison.Ordinal);
        Assert.Contains("\"ssh.github.com:22\"", yaml, StringComparison.Ordinal);
        Assert.Contains("#   - exfil.test:443", yaml, StringComparison.Ordinal);
        Assert.Contains("#   - 203.0.113.7:4444", yaml, StringComparison.Ordinal);
        Assert.Contains("#   - only-resolved.test", yaml, StringComparison.Ordinal);
        Assert.DoesNotContain("\"exfil.test", yaml, StringComparison.Ordinal);
        Assert.NotEmpty(endpoints);
    }

    [Fact]
    public async Task RecommendedPolicy_OfAnEmptyRun_IsAValidBlockPolicyAllowingNothing()
    {
        var run = await RecordRunAsync("none", EgressMode.Audit, []);
        var yaml = (string)ReportSchema.Parse(await JsonReportBuilder.BuildAsync(_fixture.Store, run))["recommendedPolicy"]!;
        var load = PolicyLoader.Parse(yaml, "recommendedPolicy");
        Assert.True(load.Success, string.Join("\n", load.Diagnostics) + "\n" + yaml);
        Assert.Empty(load.Policy!.AllowedEndpoints);
    }

    [Fact]
    public async Task LargeRun_IsStreamed_AndComplete()
    {
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("big"));
        for (var b = 0; b < 20; b++)
        {
            await _fixture.Store.AppendAsync("big", [.. Enumerable.Range(0, 1000).Select(i => (ApplianceEvent)SampleEvents.Https((b * 1000) + i))]);
        }

        var run = (await _fixture.Store.GetRunAsync("big"))!;
        using var output = new MemoryStream();
        await JsonReportBuilder.WriteAsync(_fixture.Store, run, output);
        var report = JsonNode.Parse(output.ToArray())!;
        Assert.Equal(20_000, report["network"]!.AsArray().Count);
        Assert.Equal("/upload/19999", (string?)report["network"]![19_999]!["path"]);
    }

    private async Task<RunInfo> RecordRunAsync(string id, EgressMode mode, IReadOnlyList<ApplianceEvent> events)
    {
        await _fixture.Store.BeginRunAsync(SampleEvents.Run(id, mode: mode));
        await _fixture.Store.AppendAsync(id, events);
        await _fixture.Store.EndRunAsync(id, SampleEvents.T0.AddMinutes(10), 0);
        return (await _fixture.Store.GetRunAsync(id))!;
    }
}
