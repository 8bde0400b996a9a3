using System.Text;
using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

public class CommandLineTests
{
    [Fact]
    public void Format_NulSeparatedArguments_QuotesThoseWithSpaces()
    {
        var raw = Encoding.UTF8.GetBytes("bash\0-c\0echo hi \"there\"\0\0");
        Assert.Equal("bash -c \"echo hi \\\"there\\\"\" \"\"", CommandLine.Format(raw, truncated: false));
    }

    [Fact]
    public void Format_Truncated_EndsInEllipsis()
    {
        Assert.Equal("sleep 10…", CommandLine.Format(Encoding.UTF8.GetBytes("sleep\u000010"), truncated: true));
    }

    [Fact]
    public void Split_InvertsFormat()
    {
        var raw = Encoding.UTF8.GetBytes("docker\0run\0--privileged\0-e\0A=b c\0alpine\0");
        var args = CommandLine.Split(CommandLine.Format(raw, false));
        Assert.Equal(["docker", "run", "--privileged", "-e", "A=b c", "alpine"], args);
    }

    [Fact]
    public void Format_GitExtraHeader_TokenIsRedacted()
    {
        // what actions/checkout passes: base64("x-access-token:ghs_...")
        var token = "ghs_" + new string('a', 36);
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes("x-access-token:" + token));
        var raw = Encoding.UTF8.GetBytes($"git\0-c\0http.https://github.com/.extraheader=AUTHORIZATION: basic {basic}\0fetch\0origin\0");
        var line = CommandLine.Format(raw, false);
        Assert.DoesNotContain(basic, line);
        Assert.DoesNotContain(token, line);
        Assert.Contains("AUTHORIZATION: basic ***", line);
        Assert.EndsWith("fetch origin", line);
    }

    [Theory]
    [InlineData("curl -H \"Authorization: Bearer ghp_0123456789abcdefghij0123456789abcd\" https://api.github.com", "ghp_0123456789abcdefghij0123456789abcd")]
    [InlineData("echo github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz")]
    [InlineData("git clone https://x-access-token:s3cr3tvalue@github.com/acme/web", "s3cr3tvalue")]
    [InlineData("tool --password hunter22 --user bob", "hunter22")]
    [InlineData("tool --token=abcdef123", "abcdef123")]
    [InlineData("echo eC1hY2Nlc3MtdG9rZW46c2VjcmV0", "eC1hY2Nlc3MtdG9rZW46c2VjcmV0")]
    public void Redact_KnownShapes_Removed(string line, string secret)
    {
        var redacted = CommandLineRedactor.Redact(line);
        Assert.DoesNotContain(secret, redacted);
        Assert.Contains(CommandLineRedactor.Mask, redacted);
    }

    [Fact]
    public void Redact_OrdinaryCommand_Unchanged()
    {
        const string line = "dotnet test tests/HardenRunner.Tests --filter FullyQualifiedName~Monitoring -c Release";
        Assert.Equal(line, CommandLineRedactor.Redact(line));
    }
}
