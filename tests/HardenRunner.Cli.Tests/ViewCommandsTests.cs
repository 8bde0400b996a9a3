using HardenRunner.Cli.Commands;

namespace HardenRunner.Cli.Tests;

/// <summary><c>report --format</c>, <c>dashboard</c> argument handling, and what <c>stop</c> prints around recorded text.</summary>
public sealed class ViewCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-cli-views-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Report_UnknownFormat_IsUsageError()
    {
        var (code, _, err) = Run("report", "--format", "pdf", "--state-dir", _dir);
        Assert.Equal(2, code);
        Assert.Contains("pdf", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("markdown")]
    [InlineData("html")]
    [InlineData("sarif")]
    public void Report_ViewFormats_NoStore_IsFailure(string format)
    {
        var (code, _, err) = Run("report", "--format", format, "--state-dir", _dir);
        Assert.Equal(1, code);
        Assert.Contains("no store at", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboard_BadUrl_IsUsageError()
    {
        var (code, _, err) = Run("dashboard", "--urls", "http://dashboard.example:7787", "--state-dir", _dir);
        Assert.Equal(2, code);
        Assert.Contains("must be an IP address or localhost", err, StringComparison.Ordinal);
    }

    [Fact]
    public void Dashboard_NoStore_IsFailure_AndCreatesNothing()
    {
        var (code, _, err) = Run("dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", _dir);
        Assert.Equal(1, code);
        Assert.Contains("no store at", err, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
    }

    [Fact]
    public void Stop_RecordedText_IsFencedFromWorkflowCommands_UnderGitHubActions()
    {
        var text = "| host |\n::add-mask::x\n";
        using var actions = new StringWriter();
        StopOutput.WriteUntrusted(actions, text, n => n == "GITHUB_ACTIONS" ? "true" : null);
        var lines = actions.ToString().Split('\n');
        Assert.StartsWith("::stop-commands::", lines[0], StringComparison.Ordinal);
        var token = lines[0]["::stop-commands::".Length..];
        Assert.Equal(32, token.Length);
        Assert.Equal($"::{token}::", lines[3]);
        Assert.Equal("::add-mask::x", lines[2]);

        using var plain = new StringWriter();
        StopOutput.WriteUntrusted(plain, text, _ => null);
        Assert.Equal(text, plain.ToString());
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }
}

/// <summary><c>harden-runner dashboard</c> as a real process: serves the store on a loopback port, stops on SIGTERM with exit 0.</summary>
public sealed class DashboardProcessTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-cli-dash-").FullName;

    public async Task InitializeAsync()
    {
        await using var store = HardenRunner.Store.SqliteEventStore.Open(HardenRunner.Store.SqliteEventStore.PathIn(_dir));
        await store.BeginRunAsync(new HardenRunner.Store.RunInfo("run-cli", DateTimeOffset.UtcNow, HardenRunner.Policy.Model.EgressMode.Block) { Repository = "acme/web" });
        await store.EndRunAsync("run-cli", DateTimeOffset.UtcNow, 0);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Dashboard_Serves_ThenStopsOnSigterm()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "harden-runner.dll"), "dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", _dir })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = System.Diagnostics.Process.Start(psi)!;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var line = await process.StandardOutput.ReadLineAsync(cts.Token);
            if (line is null)
            {
                process.Kill();
                Assert.Fail("the dashboard printed nothing: " + await process.StandardError.ReadToEndAsync(cts.Token));
            }

            var url = System.Text.RegularExpressions.Regex.Match(line!, @"on (http://127\.0\.0\.1:\d+)").Groups[1].Value;
            Assert.NotEmpty(url);

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var runs = await http.GetStringAsync(new Uri(url + "/api/runs"), cts.Token);
            Assert.Contains("\"id\": \"run-cli\"", runs, StringComparison.Ordinal);

            Assert.Equal(0, Tmds.Linux.LibC.kill(process.Id, Tmds.Linux.LibC.SIGTERM));
            await process.WaitForExitAsync(cts.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }
}
