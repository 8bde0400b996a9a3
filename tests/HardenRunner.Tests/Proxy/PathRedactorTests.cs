using HardenRunner.Proxy.Events;

namespace HardenRunner.Tests.Proxy;

public sealed class PathRedactorTests
{
    [Theory]
    [InlineData("/a?token=abc&x=1", "/a?token=[REDACTED]&x=1")]
    [InlineData("/a?access_token=abc", "/a?access_token=[REDACTED]")]
    [InlineData("/a?X-Amz-Signature=abc&X-Amz-Credential=def&X-Amz-Date=1", "/a?X-Amz-Signature=[REDACTED]&X-Amz-Credential=[REDACTED]&X-Amz-Date=1")]
    [InlineData("/a?key=1&code=2&sig=3&password=4&client_secret=5&api_key=6", "/a?key=[REDACTED]&code=[REDACTED]&sig=[REDACTED]&password=[REDACTED]&client_secret=[REDACTED]&api_key=[REDACTED]")]
    [InlineData("/a?page=2&per_page=100", "/a?page=2&per_page=100")]
    [InlineData("/a?to%6Ben=abc", "/a?to%6Ben=[REDACTED]")]
    [InlineData("/plain/path", "/plain/path")]
    public void Redact_SecretLookingParameters_ValuesReplaced(string input, string expected)
    {
        Assert.Equal(expected, PathRedactor.Redact(input));
    }

    [Theory]
    [InlineData("/bot/ghp_0123456789abcdefghijABCDEFGHIJ012345/x")]
    [InlineData("/x?q=ghs_0123456789abcdefghijABCDEFGHIJ012345")]
    [InlineData("/x?q=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz")]
    [InlineData("/x?q=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U")]
    [InlineData("/x?q=AKIAABCDEFGHIJKLMNOP")]
    public void Redact_TokenShapesAnywhere_Replaced(string input)
    {
        var r = PathRedactor.Redact(input);
        Assert.Contains(PathRedactor.Redacted, r, StringComparison.Ordinal);
        Assert.DoesNotContain("0123456789abcdefghij", r, StringComparison.Ordinal);
        Assert.DoesNotContain("dozjgNryP4J3jVmNHl0w5N", r, StringComparison.Ordinal);
        Assert.DoesNotContain("ABCDEFGHIJKLMNOP", r, StringComparison.Ordinal);
    }

    [Fact]
    public void Redact_LongTarget_Cut()
    {
        var r = PathRedactor.Redact("/" + new string('a', 10_000));
        Assert.Equal(PathRedactor.MaxLength + 1, r.Length);
    }
}
