namespace HardenRunner.Cli.Tests;

/// <summary><c>dashboard --store/--access/--auth-header</c> and <c>recommend --store</c>: bad input is refused before anything listens.</summary>
public sealed class FleetDashboardCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-cli-fleet-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Access_WithoutAuthHeader_IsRefused()
    {
        var file = Path.Combine(_dir, "access.yml");
        File.WriteAllText(file, "users:\n  alice: [acme/web]\n");
        var (code, _, err) = Run("dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", _dir, "--access", file);
        Assert.Equal(2, code);
        Assert.Contains("--access needs --auth-header", err, StringComparison.Ordinal);
    }

    [Fact]
    public void AuthHeader_WithoutAccess_IsRefused()
    {
        var (code, _, err) = Run("dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", _dir, "--auth-header", "X-Forwarded-User");
        Assert.Equal(2, code);
        Assert.Contains("--auth-header needs --access", err, StringComparison.Ordinal);
    }

    [Fact]
    public void BadAccessFile_IsRefused_WithItsLine()
    {
        var file = Path.Combine(_dir, "access.yml");
        File.WriteAllText(file, "users:\n  alice:\n    - acme/w*\n");
        var (code, _, err) = Run("dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", _dir, "--access", file, "--auth-header", "X-Forwarded-User");
        Assert.Equal(2, code);
        Assert.Contains("line 3", err, StringComparison.Ordinal);
        var (missing, _, missingErr) = Run("dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", _dir, "--access", file + ".none", "--auth-header", "X-Forwarded-User");
        Assert.Equal(2, missing);
        Assert.Contains("--access", missingErr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("dashboard", "--urls", "http://127.0.0.1:0")]
    [InlineData("recommend")]
    public void UnsupportedStore_IsBadInput_WithoutThePassword(params string[] command)
    {
        var (code, _, err) = Run([.. command, "--state-dir", _dir, "--store", "mysql://u:s3cret@h/d"]);
        Assert.Equal(2, code);
        Assert.Contains("unsupported store", err, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", err, StringComparison.Ordinal);
    }

    [Fact]
    public void UnreachableDatabase_IsAFailure_WithoutThePassword()
    {
        var (code, _, err) = Run("recommend", "--state-dir", _dir, "--store", "postgres://u:s3cret@127.0.0.1:1/fleet");
        Assert.Equal(1, code);
        Assert.Contains("postgres://u@127.0.0.1:1/fleet", err, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", err, StringComparison.Ordinal);
    }
}
