using System.Diagnostics;
using System.Text.RegularExpressions;

namespace HardenRunner.Cli.Tests;

/// <summary>
/// The GitHub Action's own tests (appliance/test/, node's built-in test runner) run as part of the README's single
/// test command. They use the harden-runner.dll the solution build produced for the paths that change nothing.
/// </summary>
public sealed partial class ActionScriptTests
{
    [Fact]
    public async Task NodeTests_OfTheAction_Pass()
    {
        var repo = new DirectoryInfo(AppContext.BaseDirectory);
        while (repo is not null && !File.Exists(Path.Combine(repo.FullName, "HardenRunner.sln")))
        {
            repo = repo.Parent;
        }

        Assert.NotNull(repo);
        var psi = new ProcessStartInfo("node", ["--test", "appliance/test/"])
        {
            WorkingDirectory = repo.FullName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var node = Process.Start(psi) ?? throw new InvalidOperationException("node did not start (is nodejs installed?)");
        var stdout = node.StandardOutput.ReadToEndAsync();
        var stderr = node.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await node.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            node.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout + await stderr;
        Assert.True(node.ExitCode == 0, output);
        var pass = PassLine().Match(output);
        var fail = FailLine().Match(output);
        Assert.True(pass.Success && fail.Success, output);
        Assert.True(int.Parse(pass.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 10, output);
        Assert.Equal("0", fail.Groups[1].Value);
    }

    [GeneratedRegex(@"^# pass (\d+)$", RegexOptions.Multiline)]
    private static partial Regex PassLine();

    [GeneratedRegex(@"^# fail (\d+)$", RegexOptions.Multiline)]
    private static partial Regex FailLine();
}
