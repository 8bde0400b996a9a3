using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Tests.Loading;

public sealed class EndpointParserTests
{
    private static readonly SourceLocation Here = new("test.yml", 3, 5);

    [Theory]
    [InlineData("github.com", "github.com:443", 443, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("github.com:443", "github.com:443", 443, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("GitHub.com.:443", "github.com:443", 443, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("ssh.github.com:22", "ssh.github.com:22", 22, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("ssh.github.com:22/tcp", "ssh.github.com:22", 22, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("dns.example:53/udp", "dns.example:53/udp", 53, Transport.Udp, HostPatternKind.Exact)]
    [InlineData("dns.example:53/UDP", "dns.example:53/udp", 53, Transport.Udp, HostPatternKind.Exact)]
    [InlineData("quic.example/udp", "quic.example:443/udp", 443, Transport.Udp, HostPatternKind.Exact)]
    [InlineData("*.githubusercontent.com", "*.githubusercontent.com:443", 443, Transport.Tcp, HostPatternKind.Subdomains)]
    [InlineData("*.githubusercontent.com:443", "*.githubusercontent.com:443", 443, Transport.Tcp, HostPatternKind.Subdomains)]
    [InlineData("productionresultssa*.blob.core.windows.net:443", "productionresultssa*.blob.core.windows.net:443", 443, Transport.Tcp, HostPatternKind.LabelGlob)]
    [InlineData("bücher.example:8443", "xn--bcher-kva.example:8443", 8443, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("192.0.2.10", "192.0.2.10:443", 443, Transport.Tcp, HostPatternKind.Address)]
    [InlineData("192.0.2.10:8080", "192.0.2.10:8080", 8080, Transport.Tcp, HostPatternKind.Address)]
    [InlineData("192.0.2.10:53/udp", "192.0.2.10:53/udp", 53, Transport.Udp, HostPatternKind.Address)]
    [InlineData("[2001:db8::1]:8443", "[2001:db8::1]:8443", 8443, Transport.Tcp, HostPatternKind.Address)]
    [InlineData("[2001:db8::1]", "[2001:db8::1]:443", 443, Transport.Tcp, HostPatternKind.Address)]
    [InlineData("2001:db8::1", "[2001:db8::1]:443", 443, Transport.Tcp, HostPatternKind.Address)]
    [InlineData("[2001:db8::53]:53/udp", "[2001:db8::53]:53/udp", 53, Transport.Udp, HostPatternKind.Address)]
    [InlineData("host.example:1", "host.example:1", 1, Transport.Tcp, HostPatternKind.Exact)]
    [InlineData("host.example:65535", "host.example:65535", 65535, Transport.Tcp, HostPatternKind.Exact)]
    public void TryParseEndpoint_Valid(string text, string expectedText, int port, Transport transport, HostPatternKind kind)
    {
        Assert.True(EndpointParser.TryParseEndpoint(text, Here, out var ep, out var error), error);
        Assert.Equal(expectedText, ep!.Text);
        Assert.Equal(port, ep.Port);
        Assert.Equal(transport, ep.Transport);
        Assert.Equal(kind, ep.Host.Kind);
        Assert.Equal(Here, ep.Source);
    }

    [Theory]
    [InlineData("github.com:0", "port '0' must be a number from 1 to 65535")]
    [InlineData("github.com:65536", "port '65536'")]
    [InlineData("github.com:-1", "port '-1'")]
    [InlineData("github.com:https", "port 'https'")]
    [InlineData("github.com:", "port ''")]
    [InlineData("github.com: 443", "port ' 443'")]
    [InlineData("https://github.com", "is a URL")]
    [InlineData("github.com/repos", "paths belong in 'rules'")]
    [InlineData("user@github.com", "paths belong in 'rules'")]
    [InlineData("[2001:db8::1", "missing ']'")]
    [InlineData("[2001:db8::1]443", "expected ':port' after ']'")]
    [InlineData("[2001:db8::1]:0", "port '0'")]
    [InlineData("*", "bare '*'")]
    [InlineData("*:443", "bare '*'")]
    [InlineData("a*b.*.com:443", "more than one '*'")]
    [InlineData("*.com", "too broad")]
    [InlineData("-bad.example", "not a valid host name")]
    public void TryParseEndpoint_Invalid_ExplainsWhy(string text, string expectedFragment)
    {
        Assert.False(EndpointParser.TryParseEndpoint(text, Here, out var ep, out var error));
        Assert.Null(ep);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0/8", null, Transport.Tcp)]
    [InlineData("10.20.0.0/16:5432", "10.20.0.0/16:5432", 5432, Transport.Tcp)]
    [InlineData("10.0.0.0/8:53/udp", "10.0.0.0/8:53/udp", 53, Transport.Udp)]
    [InlineData("10.0.0.0/8/udp", "10.0.0.0/8/udp", null, Transport.Udp)]
    [InlineData("192.0.2.7", "192.0.2.7/32", null, Transport.Tcp)]
    [InlineData("192.0.2.7:5432", "192.0.2.7/32:5432", 5432, Transport.Tcp)]
    [InlineData("0.0.0.0/0:443", "0.0.0.0/0:443", 443, Transport.Tcp)]
    [InlineData("2001:db8::/32", "2001:db8::/32", null, Transport.Tcp)]
    [InlineData("[2001:db8::/32]:443", "[2001:db8::/32]:443", 443, Transport.Tcp)]
    [InlineData("[2001:db8::/32]:53/udp", "[2001:db8::/32]:53/udp", 53, Transport.Udp)]
    [InlineData("[2001:db8::/32]", "2001:db8::/32", null, Transport.Tcp)]
    [InlineData("2001:db8::7", "2001:db8::7/128", null, Transport.Tcp)]
    [InlineData("[2001:db8::7]:443", "[2001:db8::7/128]:443", 443, Transport.Tcp)]
    public void TryParseCidr_Valid(string text, string expectedText, int? port, Transport transport)
    {
        Assert.True(EndpointParser.TryParseCidr(text, Here, out var cidr, out var error), error);
        Assert.Equal(expectedText, cidr!.Text);
        Assert.Equal(port, cidr.Port);
        Assert.Equal(transport, cidr.Transport);
    }

    [Theory]
    [InlineData("10.0.0.0/33", "is not a CIDR")]
    [InlineData("10.0.0.0/", "is not a CIDR")]
    [InlineData("10.0.0/8", "dotted quad")]
    [InlineData("10.1", "dotted quad")]
    [InlineData("300.0.0.0/8", "is not a CIDR")]
    [InlineData("github.com/24", "is not a CIDR")]
    [InlineData("10.0.0.1/8", "host bits set; did you mean 10.0.0.0/8?")]
    [InlineData("10.20.30.40/16:5432", "host bits set; did you mean 10.20.0.0/16?")]
    [InlineData("2001:db8::1/32", "host bits set; did you mean 2001:db8::/32?")]
    [InlineData("2001:db8::/32:443", "must be in brackets, e.g. '[2001:db8::/32]:443'")]
    [InlineData("10.0.0.0/8:0", "port '0'")]
    [InlineData("10.0.0.0/8:99999", "port '99999'")]
    [InlineData("[2001:db8::/32", "missing ']'")]
    [InlineData("[2001:db8::/32]443", "expected ':port' after ']'")]
    [InlineData("2001:db8::/129", "is not a CIDR")]
    public void TryParseCidr_Invalid_ExplainsWhy(string text, string expectedFragment)
    {
        Assert.False(EndpointParser.TryParseCidr(text, Here, out var cidr, out var error));
        Assert.Null(cidr);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }
}
