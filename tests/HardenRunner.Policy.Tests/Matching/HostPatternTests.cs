using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Tests.Matching;

public sealed class HostPatternTests
{
    [Theory]
    [InlineData("github.com", HostPatternKind.Exact, "github.com")]
    [InlineData("GitHub.COM", HostPatternKind.Exact, "github.com")]
    [InlineData("github.com.", HostPatternKind.Exact, "github.com")]
    [InlineData("  github.com  ", HostPatternKind.Exact, "github.com")]
    [InlineData("_dmarc.example.com", HostPatternKind.Exact, "_dmarc.example.com")]
    [InlineData("bücher.example", HostPatternKind.Exact, "xn--bcher-kva.example")]
    [InlineData("BÜCHER.example", HostPatternKind.Exact, "xn--bcher-kva.example")]
    [InlineData("xn--bcher-kva.example", HostPatternKind.Exact, "xn--bcher-kva.example")]
    [InlineData("*.github.com", HostPatternKind.Subdomains, "*.github.com")]
    [InlineData("*.GitHubUserContent.com.", HostPatternKind.Subdomains, "*.githubusercontent.com")]
    [InlineData("*.bücher.example", HostPatternKind.Subdomains, "*.xn--bcher-kva.example")]
    [InlineData("productionresultssa*.blob.core.windows.net", HostPatternKind.LabelGlob, "productionresultssa*.blob.core.windows.net")]
    [InlineData("ProductionResultsSA*.Blob.Core.Windows.Net", HostPatternKind.LabelGlob, "productionresultssa*.blob.core.windows.net")]
    [InlineData("*-cache.example.com", HostPatternKind.LabelGlob, "*-cache.example.com")]
    [InlineData("run-*-eu.example.com", HostPatternKind.LabelGlob, "run-*-eu.example.com")]
    [InlineData("192.0.2.10", HostPatternKind.Address, "192.0.2.10")]
    [InlineData("[192.0.2.10]", HostPatternKind.Address, "192.0.2.10")]
    [InlineData("2001:db8::1", HostPatternKind.Address, "[2001:db8::1]")]
    [InlineData("[2001:DB8:0:0:0:0:0:1]", HostPatternKind.Address, "[2001:db8::1]")]
    [InlineData("::ffff:192.0.2.10", HostPatternKind.Address, "192.0.2.10")]
    public void TryParse_ValidPattern_IsNormalised(string text, HostPatternKind kind, string expectedText)
    {
        Assert.True(HostPattern.TryParse(text, out var pattern, out var error), error);
        Assert.Equal(kind, pattern!.Kind);
        Assert.Equal(expectedText, pattern.Text);
    }

    [Theory]
    [InlineData("", "empty host")]
    [InlineData("   ", "empty host")]
    [InlineData("*", "bare '*'")]
    [InlineData("*.", "bare '*'")]
    [InlineData("a*b.*.com", "more than one '*'")]
    [InlineData("*.*.example.com", "more than one '*'")]
    [InlineData("**.example.com", "more than one '*'")]
    [InlineData("github.*", "leftmost label")]
    [InlineData("api.*.github.com", "leftmost label")]
    [InlineData("*.com", "too broad")]
    [InlineData("*github.com", "too broad")]
    [InlineData("a_b*c!.example.com", "characters a host name cannot have")]
    [InlineData("-github.com", "not a valid host name")]
    [InlineData("github-.com", "not a valid host name")]
    [InlineData("git hub.com", "not a valid host name")]
    [InlineData("a..b.com", "not a valid host name")]
    [InlineData("*.a..b.com", "not a valid host name")]
    [InlineData("github.com:443", "not a valid host name")]
    public void TryParse_InvalidPattern_ExplainsWhy(string text, string expectedFragment)
    {
        Assert.False(HostPattern.TryParse(text, out var pattern, out var error));
        Assert.Null(pattern);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_LabelLongerThan63_IsRejected()
    {
        Assert.False(HostPattern.TryParse(new string('a', 64) + ".example.com", out _, out var error));
        Assert.Contains("not a valid host name", error, StringComparison.Ordinal);
    }

    [Theory]
    // exact names: only that name, any case (the engine passes names without the trailing dot)
    [InlineData("github.com", "github.com", true)]
    [InlineData("github.com", "GITHUB.com", true)]
    [InlineData("github.com", "api.github.com", false)]
    [InlineData("github.com", "evilgithub.com", false)]
    [InlineData("github.com", "github.com.evil.com", false)]
    [InlineData("github.com", "github.co", false)]
    // '*.' = one or more labels, never the apex
    [InlineData("*.github.com", "api.github.com", true)]
    [InlineData("*.github.com", "a.b.github.com", true)]
    [InlineData("*.github.com", "x.y.z.w.github.com", true)]
    [InlineData("*.github.com", "API.GitHub.Com", true)]
    [InlineData("*.github.com", "github.com", false)]
    [InlineData("*.github.com", "evilgithub.com", false)]
    [InlineData("*.github.com", "github.com.evil.com", false)]
    [InlineData("*.github.com", ".github.com", false)]
    [InlineData("*.github.com", "com", false)]
    [InlineData("*.a.github.com", "b.a.github.com", true)]
    [InlineData("*.a.github.com", "a.github.com", false)]
    [InlineData("*.a.github.com", "b.github.com", false)]
    // label globs: exactly one label matching the glob, then exactly the rest
    [InlineData("productionresultssa*.blob.core.windows.net", "productionresultssa0.blob.core.windows.net", true)]
    [InlineData("productionresultssa*.blob.core.windows.net", "productionresultssa17.blob.core.windows.net", true)]
    [InlineData("productionresultssa*.blob.core.windows.net", "PRODUCTIONRESULTSSA17.blob.core.windows.net", true)]
    [InlineData("productionresultssa*.blob.core.windows.net", "evil.blob.core.windows.net", false)]
    [InlineData("productionresultssa*.blob.core.windows.net", "x.productionresultssa1.blob.core.windows.net", false)]
    [InlineData("productionresultssa*.blob.core.windows.net", "productionresultssa1.x.blob.core.windows.net", false)]
    [InlineData("productionresultssa*.blob.core.windows.net", "productionresultssa1.blob.core.windows.net.evil.com", false)]
    [InlineData("productionresultssa*.blob.core.windows.net", "blob.core.windows.net", false)]
    [InlineData("run-*-eu.example.com", "run-42-eu.example.com", true)]
    [InlineData("run-*-eu.example.com", "run-42-us.example.com", false)]
    [InlineData("run-*-eu.example.com", "run-eu.example.com", false)]
    [InlineData("*-cache.example.com", "npm-cache.example.com", true)]
    [InlineData("*-cache.example.com", "a.npm-cache.example.com", false)]
    // address literals match their canonical text only
    [InlineData("192.0.2.10", "192.0.2.10", true)]
    [InlineData("192.0.2.10", "192.0.2.11", false)]
    [InlineData("[2001:db8::1]", "2001:db8::1", true)]
    public void Matches_FollowsWildcardSemantics(string pattern, string host, bool expected)
    {
        Assert.True(HostPattern.TryParse(pattern, out var p, out var error), error);
        Assert.Equal(expected, p!.Matches(host));
    }

    [Theory]
    [InlineData("api.github.com", "api.github.com", true)]
    [InlineData("api.github.com", "*.github.com", true)]
    [InlineData("github.com", "*.github.com", false)]
    [InlineData("*.a.github.com", "*.github.com", true)]
    [InlineData("*.github.com", "*.github.com", true)]
    [InlineData("*.github.com", "*.a.github.com", false)]
    [InlineData("*.github.com", "github.com", false)]
    [InlineData("productionresultssa*.blob.core.windows.net", "*.core.windows.net", true)]
    [InlineData("productionresultssa*.blob.core.windows.net", "productionresultssa*.blob.core.windows.net", true)]
    [InlineData("productionresultssa*.blob.core.windows.net", "evil*.blob.core.windows.net", false)]
    [InlineData("productionresultssa1.blob.core.windows.net", "productionresultssa*.blob.core.windows.net", true)]
    [InlineData("192.0.2.10", "[::ffff:192.0.2.10]", true)]
    [InlineData("192.0.2.10", "192.0.2.11", false)]
    public void IsCoveredBy_TellsWhetherEveryMatchedNameIsAllowed(string inner, string outer, bool expected)
    {
        Assert.True(HostPattern.TryParse(inner, out var a, out _));
        Assert.True(HostPattern.TryParse(outer, out var b, out _));
        Assert.Equal(expected, a!.IsCoveredBy(b!));
    }

    [Fact]
    public void Equality_IsByKindAndNormalisedText()
    {
        Assert.True(HostPattern.TryParse("*.GitHub.com", out var a, out _));
        Assert.True(HostPattern.TryParse("*.github.com.", out var b, out _));
        Assert.True(HostPattern.TryParse("github.com", out var c, out _));
        Assert.Equal(a, b);
        Assert.Equal(a!.GetHashCode(), b!.GetHashCode());
        Assert.NotEqual(a, c);
    }
}
