using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Tests.Matching;

public sealed class HostNameTests
{
    [Theory]
    [InlineData("github.com", "github.com")]
    [InlineData("GitHub.Com", "github.com")]
    [InlineData("github.com.", "github.com")]
    [InlineData(" github.com ", "github.com")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("Bücher.Example", "xn--bcher-kva.example")]
    [InlineData("BÜCHER.EXAMPLE.", "xn--bcher-kva.example")]
    [InlineData("XN--BCHER-KVA.example", "xn--bcher-kva.example")]
    [InlineData("münchen.bücher.example", "xn--mnchen-3ya.xn--bcher-kva.example")]
    public void Normalize_GivesLowerCaseAsciiWithoutTrailingDot(string name, string expected) =>
        Assert.Equal(expected, HostName.Normalize(name));

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("a..b")]
    [InlineData("-a.example")]
    [InlineData("a-.example")]
    [InlineData("a b.example")]
    [InlineData("a/b.example")]
    [InlineData("a:b.example")]
    public void Normalize_InvalidName_IsNull(string name) => Assert.Null(HostName.Normalize(name));
}
