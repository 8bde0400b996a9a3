namespace HardenRunner.Policy.Tests;

public sealed class RequestTargetTests
{
    [Theory]
    [InlineData("https://api.github.com/repos/acme/web", "https", "api.github.com", 443, "/repos/acme/web")]
    [InlineData("HTTPS://api.github.com", "https", "api.github.com", 443, "/")]
    [InlineData("http://example.com/a?b=c", "http", "example.com", 80, "/a?b=c")]
    [InlineData("https://api.github.com/repos/acme/../../gists", "https", "api.github.com", 443, "/repos/acme/../../gists")]
    [InlineData("https://api.github.com/repos/acme/%2e%2e/x", "https", "api.github.com", 443, "/repos/acme/%2e%2e/x")]
    [InlineData("https://user:pass@example.com:8443/x", "https", "example.com", 8443, "/x")]
    [InlineData("https://[2001:db8::1]:8443/x", "https", "2001:db8::1", 8443, "/x")]
    [InlineData("tcp://ssh.github.com:22", "tcp", "ssh.github.com", 22, "/")]
    [InlineData("udp://10.40.0.1:53", "udp", "10.40.0.1", 53, "/")]
    public void TryParse_KeepsThePathAsWritten(string url, string scheme, string host, int port, string path)
    {
        Assert.True(RequestTarget.TryParse(url, out var target, out var error), error);
        Assert.Equal(new RequestTarget(scheme, host, port, path), target);
    }

    [Theory]
    [InlineData("api.github.com/x", "is not a URL")]
    [InlineData("ftp://example.com/x", "scheme 'ftp' is not supported")]
    [InlineData("tcp://ssh.github.com", "needs a port")]
    [InlineData("https://example.com:0/", "port '0'")]
    [InlineData("https:///x", "has no host")]
    [InlineData("https://[2001:db8::1/x", "missing ']'")]
    public void TryParse_Invalid_ExplainsWhy(string url, string expectedFragment)
    {
        Assert.False(RequestTarget.TryParse(url, out var target, out var error));
        Assert.Null(target);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }
}
