using System.Net;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;
using HardenRunner.Proxy.Http;

namespace HardenRunner.Tests.Proxy;

public sealed class RequestInspectorTests
{
    private static readonly IPEndPoint Dst = new(IPAddress.Parse("198.51.100.30"), 443);

    private static readonly PolicyEngine Policy = Load("""
        allowed-endpoints:
          - api.test:443
          - allowed.test:443
          - allowed.test:80
          - 198.51.100.40:80
        rules:
          - host: api.test
            allow:
              - { method: GET, path: "/repos/acme/**" }
            deny:
              - { method: "*", path: "/gists/**" }
        """);

    private static PolicyEngine Load(string yaml)
    {
        var r = PolicyLoader.Parse(yaml, "t.yml");
        Assert.True(r.Success, string.Join("\n", r.Diagnostics));
        return new PolicyEngine(r.Policy!);
    }

    private static RequestPlan Tls(string method, string target, string? host = "api.test", string sni = "api.test", bool cl = false, bool te = false) =>
        RequestInspector.Inspect(new RequestFacts(true, sni, Dst, method, host, target, false, cl, te), Policy);

    [Fact]
    public void Inspect_AllowedGet_UpstreamUriNamesTheSniAndPort()
    {
        var p = Tls("GET", "/repos/acme/web?per_page=1");
        Assert.True(p.Verdict.IsAllowed);
        Assert.Equal("https://api.test:443/repos/acme/web?per_page=1", p.UpstreamUri!.OriginalString);
        Assert.Equal(Dst.Address, p.PreferredAddress);
        Assert.Equal("/repos/acme/web?per_page=1", p.Target);
    }

    [Theory]
    [InlineData("/repos/acme/../../gists/1")]
    [InlineData("/repos/acme/%2e%2e/%2e%2e/gists/1")]
    [InlineData("/repos/acme/%2E%2E/%2e%2E/gists")]
    [InlineData("//gists/x")]
    [InlineData("/repos/acme/..%2f..%2fgists")]
    [InlineData("/repos/acme%2f..%2f..%2fgists")]
    [InlineData("/repos/acme/%252e%252e/gists")]
    [InlineData("/repos/acme/..;/..;/gists")]
    [InlineData("/repos/acme\\..\\..\\gists")]
    [InlineData("/GISTS/1")]
    [InlineData("/repos/ACME/../../Gists/1")]
    [InlineData("/gists/../gists/1")]
    public void Inspect_TraversalTricks_Denied(string target)
    {
        Assert.False(Tls("GET", target).Verdict.IsAllowed, target);
    }

    [Fact]
    public void Inspect_PathCase_IgnoredAsThePolicySays()
    {
        Assert.True(Tls("GET", "/Repos/ACME/web").Verdict.IsAllowed);
    }

    [Fact]
    public void Inspect_PostWhereOnlyGetAllowed_DeniedWithRule()
    {
        var p = Tls("POST", "/repos/acme/web/issues");
        Assert.False(p.Verdict.IsAllowed);
        Assert.Equal("rules[api.test]: no allow entry matches", p.Verdict.Rule);
    }

    [Fact]
    public void Inspect_HostWithRules_ForwardsTheNormalisedPath()
    {
        var p = Tls("GET", "/repos/acme/./web//x/%7Euser?q=1");
        Assert.True(p.Verdict.IsAllowed);
        Assert.Equal("https://api.test:443/repos/acme/web/x/~user?q=1", p.UpstreamUri!.OriginalString);
        Assert.Equal("/repos/acme/./web//x/%7Euser?q=1", p.Target);
    }

    [Fact]
    public void Inspect_HostWithoutRules_ForwardsThePathExactly()
    {
        var p = Tls("GET", "/a//b/%2Fc/../d", host: "allowed.test", sni: "allowed.test");
        Assert.True(p.Verdict.IsAllowed);
        Assert.Equal("https://allowed.test:443/a//b/%2Fc/../d", p.UpstreamUri!.OriginalString);
        Assert.Equal("/a//b/%2Fc/../d", p.UpstreamUri.PathAndQuery);
    }

    [Theory]
    [InlineData("allowed.test")]
    [InlineData("evil.test:443")]
    [InlineData("api.test.evil.test")]
    public void Inspect_HostDiffersFromSni_DomainFronting(string host)
    {
        var p = Tls("GET", "/repos/acme/web", host: host);
        Assert.False(p.Verdict.IsAllowed);
        Assert.StartsWith("domain fronting:", p.Verdict.Rule, StringComparison.Ordinal);
        Assert.NotNull(p.FrontedHost);
        Assert.Equal("api.test", p.UpstreamUri!.Host);
    }

    [Theory]
    [InlineData("API.TEST")]
    [InlineData("api.test:443")]
    [InlineData("api.test.")]
    [InlineData("api.test:8443")]
    public void Inspect_HostSpellingsOfTheSni_NotFronting(string host)
    {
        var p = Tls("GET", "/repos/acme/web", host: host);
        Assert.True(p.Verdict.IsAllowed, host);
        Assert.Null(p.FrontedHost);
    }

    [Fact]
    public void Inspect_NoHostHeader_UsesSni()
    {
        Assert.True(Tls("GET", "/repos/acme/web", host: null).Verdict.IsAllowed);
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("api.test:99999")]
    [InlineData("api.test:x")]
    [InlineData("[::1")]
    [InlineData("\n")]
    public void Inspect_InvalidHostHeader_Rejected400(string host)
    {
        var p = Tls("GET", "/", host: host);
        Assert.Equal(400, p.RejectStatus);
        Assert.Null(p.UpstreamUri);
    }

    [Fact]
    public void Inspect_ContentLengthAndTransferEncoding_Rejected400()
    {
        var p = Tls("POST", "/repos/acme/web", cl: true, te: true);
        Assert.Equal(400, p.RejectStatus);
        Assert.Equal(RequestInspector.RuleBothLengths, p.Verdict.Rule);
    }

    [Fact]
    public void Inspect_Connect_Rejected405()
    {
        Assert.Equal(405, Tls("CONNECT", "evil.test:443").RejectStatus);
    }

    [Fact]
    public void Inspect_AsteriskForm_Rejected400()
    {
        Assert.Equal(400, Tls("OPTIONS", "*").RejectStatus);
    }

    [Fact]
    public void Inspect_AbsoluteForm_UsesItsPath()
    {
        var p = Tls("GET", "https://api.test/repos/acme/web?x=1");
        Assert.True(p.Verdict.IsAllowed);
        Assert.Equal("/repos/acme/web?x=1", p.UpstreamUri!.PathAndQuery);
    }

    [Fact]
    public void Inspect_PlainHttp_DecidesOnHostAndGoesToIt()
    {
        var dst = new IPEndPoint(IPAddress.Parse("203.0.113.9"), 80);
        var p = RequestInspector.Inspect(new RequestFacts(false, null, dst, "GET", "allowed.test", "/x", false, false, false), Policy);
        Assert.True(p.Verdict.IsAllowed);
        Assert.Equal("http://allowed.test:80/x", p.UpstreamUri!.OriginalString);

        var denied = RequestInspector.Inspect(new RequestFacts(false, null, dst, "GET", "exfil.test", "/x", false, false, false), Policy);
        Assert.False(denied.Verdict.IsAllowed);
    }

    [Fact]
    public void Inspect_PlainHttpWithoutHost_DecidesOnTheAddress()
    {
        var allowed = RequestInspector.Inspect(new RequestFacts(false, null, new IPEndPoint(IPAddress.Parse("198.51.100.40"), 80), "GET", null, "/", false, false, false), Policy);
        Assert.True(allowed.Verdict.IsAllowed);
        Assert.Equal("http://198.51.100.40:80/", allowed.UpstreamUri!.OriginalString);
        var denied = RequestInspector.Inspect(new RequestFacts(false, null, new IPEndPoint(IPAddress.Parse("198.51.100.41"), 80), "GET", null, "/", false, false, false), Policy);
        Assert.False(denied.Verdict.IsAllowed);
    }

    [Fact]
    public void Inspect_ExtendedConnect_IsJudgedAsGet()
    {
        var p = RequestInspector.Inspect(new RequestFacts(true, "api.test", Dst, "CONNECT", "api.test", "/repos/acme/ws", true, false, false), Policy);
        Assert.True(p.Verdict.IsAllowed);
        Assert.Equal("GET", p.Method);
    }
}
