using System.Net;
using HardenRunner.Tls;

namespace HardenRunner.Tests.Tls;

public sealed class ServerNameTests
{
    [Theory]
    [InlineData("example.com", "example.com")]
    [InlineData("Example.COM.", "example.com")]
    [InlineData("  api.github.com ", "api.github.com")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("BÜCHER.example", "xn--bcher-kva.example")]
    [InlineData("xn--bcher-kva.example", "xn--bcher-kva.example")]
    [InlineData("例え.jp", "xn--r8jz45g.jp")]
    [InlineData("_dmarc.example.com", "_dmarc.example.com")]
    [InlineData("localhost", "localhost")]
    [InlineData("a1.b2.c3", "a1.b2.c3")]
    public void Parse_DnsNames_AsciiLowerCaseNoTrailingDot(string input, string expected)
    {
        var name = ServerName.Parse(input);

        Assert.Equal(expected, name.Value);
        Assert.Null(name.Address);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("192.0.2.10", "192.0.2.10")]
    [InlineData("::1", "::1")]
    [InlineData("[2001:DB8::1]", "2001:db8::1")]
    [InlineData("::ffff:192.0.2.1", "::ffff:192.0.2.1")]
    public void Parse_AddressLiterals(string input, string expected)
    {
        var name = ServerName.Parse(input);

        Assert.Equal(expected, name.Value);
        Assert.Equal(IPAddress.Parse(expected), name.Address);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData(".")]
    [InlineData("*.example.com")]
    [InlineData("*")]
    [InlineData("exa mple.com")]
    [InlineData("a..b")]
    [InlineData("-a.example")]
    [InlineData("a-.example")]
    [InlineData("evil.com\0.good.com")]
    [InlineData("evil.com/x")]
    [InlineData("CN=evil, O=x")]
    [InlineData("a,b.example")]
    [InlineData("a\nb.example")]
    [InlineData("1.2.3")]
    [InlineData("999.1.1.1")]
    [InlineData("01.2.3.4")]
    [InlineData("1.2.3.4.5")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[fe80::1%25eth0]")]
    [InlineData("1:2")]
    [InlineData("host:443")]
    [InlineData("\u202Eevil.example")]
    [InlineData("a\u200Db.example")]
    [InlineData("xn--zz.example")]
    [InlineData("xn--evil-ud7a.example")]
    public void Parse_Invalid_Rejected(string input)
    {
        Assert.False(ServerName.TryParse(input, out _));
        Assert.StartsWith("not a valid server name", Assert.Throws<ArgumentException>(() => ServerName.Parse(input)).Message);
    }

    [Fact]
    public void Parse_OverlongLabelOrName_Rejected()
    {
        Assert.True(ServerName.TryParse(new string('a', 63) + ".example", out _));
        Assert.False(ServerName.TryParse(new string('a', 64) + ".example", out _));
        var name253 = string.Join('.', Enumerable.Repeat(new string('a', 62), 4)) + ".ab"; // 4*63 + 2 = 254 with dots
        Assert.False(ServerName.TryParse(name253, out _));
        Assert.True(ServerName.TryParse(name253[2..], out _));
        Assert.False(ServerName.TryParse(null, out _));
    }
}
