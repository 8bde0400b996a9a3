using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// The node CA of the DaemonSet deployment (--ca-dir): a client that took the bundle written by one appliance keeps
/// trusting the next appliance on the node, and a CA directory the appliance must not use stops it at start.
/// </summary>
public sealed class NodeCaTests
{
    private static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(20);

    private const string Policy = """
        egress-policy: block
        allowed-endpoints:
          - allowed.test:443
        """;

    [SkippableFact]
    public async Task ABundleTakenFromTheFirstAppliance_IsTrustedByItsSuccessor()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var caDir = Path.Combine(lab.WorkDirectory, "node-ca");
        var podBundle = Path.Combine(lab.WorkDirectory, "pod-bundle.pem");

        string firstRoot;
        await using (var first = await ApplianceProcess.StartAsync(lab, Policy, "--upstream-ca", lab.CaCertificatePath, "--ca-dir", caDir))
        {
            firstRoot = await File.ReadAllTextAsync(Path.Combine(caDir, "ca.pem"));
            File.Copy(Path.Combine(caDir, "bundle.pem"), podBundle); // what a pod mounted at its start
            var ok = await lab.RunInRunnerAsync("curl", ["-sS", "--max-time", "10", "--cacert", podBundle, "-o", "/dev/null", "-w", "%{http_code}", "https://allowed.test/node-ca-1"], ClientTimeout);
            Assert.True(ok.Succeeded, ok.ToString());
            Assert.Equal("200", ok.StandardOutput.Trim());
            var stop = await first.StopAsync();
            Assert.Equal(0, stop.ExitCode);
        }

        await using var second = await ApplianceProcess.StartAsync(lab, Policy, "--upstream-ca", lab.CaCertificatePath, "--ca-dir", caDir);
        Assert.Equal(firstRoot, await File.ReadAllTextAsync(Path.Combine(caDir, "ca.pem")));
        var again = await lab.RunInRunnerAsync("curl", ["-sS", "--max-time", "10", "--cacert", podBundle, "-o", "/dev/null", "-w", "%{http_code}", "https://allowed.test/node-ca-2"], ClientTimeout);
        Assert.True(again.Succeeded, again.ToString());
        Assert.Equal("200", again.StandardOutput.Trim());
    }

    [SkippableFact]
    public async Task ACaKeyReadableByOthers_StopsTheApplianceAtStart_WithTheReason()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var caDir = Path.Combine(lab.WorkDirectory, "node-ca");
        await using (var first = await ApplianceProcess.StartAsync(lab, Policy, "--upstream-ca", lab.CaCertificatePath, "--ca-dir", caDir))
        {
            Assert.Equal(0, (await first.StopAsync()).ExitCode);
        }

        File.SetUnixFileMode(Path.Combine(caDir, "ca.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ApplianceProcess.StartAsync(lab, Policy, "--upstream-ca", lab.CaCertificatePath, "--ca-dir", caDir));
        Assert.Contains("readable by others", e.Message, StringComparison.Ordinal);
    }
}
