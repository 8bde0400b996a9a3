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
