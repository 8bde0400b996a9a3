using System.Diagnostics;

namespace HardenRunner.Cli.Tests;

/// <summary>
/// appliance/systemd: install.sh into an image tree (--root, as an image builder runs it) and
/// <c>systemd-analyze verify</c> of the installed unit against the machine's own systemd units.
/// </summary>
public sealed class SystemdUnitTests : IDisposable
{
    private readonly string _tmp = Directory.CreateTempSubdirectory("hr-systemd-").FullName;

    public void Dispose() => Directory.Delete(_tmp, recursive: true);

    private static string Repo()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HardenRunner.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("no HardenRunner.sln above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Code, string Out, string Err)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException(file + " did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(timeout.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    private async Task<string> InstallAsync()
    {
        var root = Path.Combine(_tmp, "image");
        var policy = Path.Combine(_tmp, "policy.yml");
        await File.WriteAllTextAsync(policy, "egress-policy: block\nallowed-endpoints: [github.com]\n");
        // the installed file only has to exist and be executable for the check; the apphost next to the tests is one
        var binary = Path.Combine(AppContext.BaseDirectory, "harden-runner");
        Assert.True(File.Exists(binary), binary + " is missing");
        var install = await RunAsync(Path.Combine(Repo(), "appliance", "systemd", "install.sh"), "--root", root, "--binary", binary, "--policy", policy, "--args", "--egress-policy block");
        Assert.True(install.Code == 0, install.Out + install.Err);

        // the distribution's units (sysinit.target, network-online.target, …) the unit depends on
        Directory.CreateDirectory(Path.Combine(root, "usr", "lib", "systemd"));
        var copy = await RunAsync("cp", "-a", "/usr/lib/systemd/system", Path.Combine(root, "usr", "lib", "systemd"));
        Assert.True(copy.Code == 0, copy.Err);
        return root;
    }

    [SkippableFact]
    public async Task InstalledUnit_PassesSystemdAnalyzeVerify_WithoutAWarning()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "install.sh runs as root (CI does)");
        var root = await InstallAsync();
        Assert.Equal("# Options of 'harden-runner service' for harden-runner.service (see docs/deployment.md).\nHARDEN_RUNNER_ARGS=\"--policy /etc/harden-runner/policy.yml --egress-policy block\"\n", await File.ReadAllTextAsync(Path.Combine(root, "etc", "default", "harden-runner")));
        Assert.True(File.Exists(Path.Combine(root, "etc", "harden-runner", "policy.yml")));
        var unit = await File.ReadAllTextAsync(Path.Combine(root, "etc", "systemd", "system", "harden-runner.service"));
        Assert.Contains("Type=notify", unit, StringComparison.Ordinal);
        Assert.Contains("Restart=on-failure", unit, StringComparison.Ordinal);
        Assert.Contains("StateDirectory=harden-runner", unit, StringComparison.Ordinal);
        Assert.Contains("CapabilityBoundingSet=CAP_NET_ADMIN", unit, StringComparison.Ordinal);

        var verify = await RunAsync("systemd-analyze", "verify", "--man=no", "--root=" + root, "/etc/systemd/system/harden-runner.service");
        Assert.True(verify.Code == 0 && verify.Out.Length == 0 && verify.Err.Length == 0, $"exit {verify.Code}\n{verify.Out}\n{verify.Err}");

        // the same check notices a mistake (an unknown key is only a warning to systemd, with exit code 0)
        var path = Path.Combine(root, "etc", "systemd", "system", "harden-runner.service");
        await File.WriteAllTextAsync(path, unit.Replace("NotifyAccess=main", "NotifyAccess=main\nNotifyAcess=all", StringComparison.Ordinal));
        var broken = await RunAsync("systemd-analyze", "verify", "--man=no", "--root=" + root, "/etc/systemd/system/harden-runner.service");
        Assert.Contains("Unknown key 'NotifyAcess'", broken.Err, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task InstallScript_RefusesBadArguments()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "install.sh runs as root (CI does)");
        var script = Path.Combine(Repo(), "appliance", "systemd", "install.sh");
        var root = Path.Combine(_tmp, "image");
        Assert.Equal(2, (await RunAsync(script, "--root", root)).Code);
        Assert.Equal(2, (await RunAsync(script, "--root", root, "--binary", Path.Combine(_tmp, "missing"))).Code);
        var quote = await RunAsync(script, "--root", root, "--binary", "/bin/true", "--args", "--policy \"x\"");
        Assert.Equal(2, quote.Code);
        Assert.Contains("without quotes", quote.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(root, "etc")), "nothing is installed after a refusal");
    }
}
