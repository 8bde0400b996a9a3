namespace HardenRunner.Cli.Tests;

/// <summary><c>harden-runner recommend</c> is wired with its options and the DESIGN §3 exit codes (the logic has its own tests).</summary>
public sealed class RecommendCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-cli-rec-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void NoStore_IsAFailure_NamingTheStore()
    {
        var (code, _, err) = Run("recommend", "--state-dir", _dir);
        Assert.Equal(1, code);
        Assert.Contains("no store at", err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--runs", "many")]
    [InlineData("--no-such-option")]
    public void BadUsage_IsExitCode2(params string[] args)
    {
        var (code, _, err) = Run(["recommend", "--state-dir", "/nonexistent", .. args]);
        Assert.Equal(2, code);
        Assert.Contains("error:", err, StringComparison.Ordinal);
    }

    [Fact]
    public void RunsZero_IsBadInput()
    {
        var (code, _, err) = Run("recommend", "--state-dir", _dir, "--runs", "0");
        Assert.Equal(2, code);
        Assert.Contains("--runs must be at least 1", err, StringComparison.Ordinal);
    }
}
