using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Tests.Matching;

public sealed class MethodSetTests
{
    [Theory]
    [InlineData("GET", "GET", true)]
    [InlineData("GET", "get", true)]
    [InlineData("GET", "Get", true)]
    [InlineData("get", "GET", true)]
    [InlineData("GET", "HEAD", true)]
    [InlineData("GET", "head", true)]
    [InlineData("HEAD", "GET", false)]
    [InlineData("HEAD", "HEAD", true)]
    [InlineData("GET", "POST", false)]
    [InlineData("GET", "GETX", false)]
    [InlineData("GET", "GE", false)]
    [InlineData("POST,PATCH", "patch", true)]
    [InlineData("POST,PATCH", "PUT", false)]
    [InlineData("POST,PATCH", "HEAD", false)]
    [InlineData("*", "DELETE", true)]
    [InlineData("*", "PROPFIND", true)]
    [InlineData("GET,*", "DELETE", true)]
    public void Matches_IsCaseInsensitiveAndGetCoversHead(string methods, string method, bool expected)
    {
        Assert.True(MethodSet.TryCreate(methods.Split(','), out var set, out var error), error);
        Assert.Equal(expected, set!.Matches(method));
    }

    [Theory]
    [InlineData("get", "GET")]
    [InlineData("post,Post,POST", "POST")]
    [InlineData("post,patch", "POST,PATCH")]
    [InlineData("*", "*")]
    [InlineData("GET,*", "*")]
    public void TryCreate_NormalisesToUpperCaseWithoutDuplicates(string methods, string expectedText)
    {
        Assert.True(MethodSet.TryCreate(methods.Split(','), out var set, out _));
        Assert.Equal(expectedText, set!.Text);
    }

    [Theory]
    [InlineData("", "not an HTTP method")]
    [InlineData("G ET", "not an HTTP method")]
    [InlineData("GET/", "not an HTTP method")]
    [InlineData("GET*", "not an HTTP method")]
    [InlineData("GE\nT", "not an HTTP method")]
    public void TryCreate_InvalidMethod_ExplainsWhy(string method, string expectedFragment)
    {
        Assert.False(MethodSet.TryCreate([method], out var set, out var error));
        Assert.Null(set);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryCreate_NoMethod_IsAnError()
    {
        Assert.False(MethodSet.TryCreate([], out _, out var error));
        Assert.Equal("no method given", error);
    }

    [Theory]
    [InlineData("GET", true)]
    [InlineData("M-SEARCH", true)]
    [InlineData("", false)]
    [InlineData("GE T", false)]
    [InlineData("GET\u0000", false)]
    [InlineData("GÉT", false)]
    public void IsToken_AcceptsOnlyMethodShapedTokens(string method, bool expected) =>
        Assert.Equal(expected, MethodSet.IsToken(method));

    [Fact]
    public void IsToken_OverlongMethod_IsRejected() => Assert.False(MethodSet.IsToken(new string('A', 33)));
}
