using HardenRunner.Control;

namespace HardenRunner.Tests.Lockdown;

public sealed class StopAuthorizationTests
{
    private const string Token = "0123456789abcdef0123456789abcdef";

    [Fact]
    public void Root_MayAlwaysStop() =>
        Assert.Null(new StopAuthorization(null).Refusal(new ControlRequest("stop", 10, 0)));

    [Fact]
    public void NonRoot_WithoutAConfiguredToken_IsRefused() =>
        Assert.NotNull(new StopAuthorization(null).Refusal(new ControlRequest("stop " + Token, 10, 1001)));

    [Theory]
    [InlineData("stop")]
    [InlineData("stop ")]
    [InlineData("stop 0123456789abcdef0123456789abcdee")]
    [InlineData("stop 0123456789abcdef")]
    public void NonRoot_WithAWrongOrMissingToken_IsRefused(string command) =>
        Assert.Equal("a valid stop token is required", new StopAuthorization(Token).Refusal(new ControlRequest(command, 10, 1001)));

    [Fact]
    public void NonRoot_WithTheToken_MayStop() =>
        Assert.Null(new StopAuthorization(Token).Refusal(new ControlRequest("stop " + Token, 10, 1001)));

    [Fact]
    public void UnknownPeer_IsTreatedAsNonRoot() =>
        Assert.NotNull(new StopAuthorization(Token).Refusal(new ControlRequest("stop", -1, -1)));

    [Theory]
    [InlineData("short")]
    [InlineData("has a space in it 0123456789")]
    public void InvalidTokens_AreRejected(string token) =>
        Assert.Throws<ArgumentException>(() => new StopAuthorization(token));

    [Theory]
    [InlineData("stop", true)]
    [InlineData("stop abc", true)]
    [InlineData("stopx", false)]
    [InlineData("status", false)]
    public void IsStop(string command, bool expected) => Assert.Equal(expected, StopAuthorization.IsStop(command));
}
