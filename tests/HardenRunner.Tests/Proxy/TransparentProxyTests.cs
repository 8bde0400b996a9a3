using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// The proxy end to end on loopback: real sockets, real TLS both sides, a real Kestrel upstream with its own CA; only
/// SO_ORIGINAL_DST (needs nftables) is replaced by <see cref="FakeDestinations"/> and DNS by <see cref="StaticResolver"/>.
/// </summary>
public sealed class TransparentProxyTests
{
    internal const string Policy = """
        allowed-endpoints:
          - allowed.test:{https}
          - www.allowed.test:{https}
          - api.test:{https}
          - pinned.test:{https}
          - nocert.test:{https}
          - allowed.test:{http}
          - api.test:{http}
        rules:
          - host: api.test
            allow:
              - { method: GET, path: "/repos/acme/**" }
            deny:
              - { method: "*", path: "/gists/**" }
        tls:
          passthrough: [pinned.test]
        """;

    private static readonly byte[] AccessDeniedAlert = [21, 3, 3, 0, 2, 2, 49];

    [Fact]
    public async Task Https_AllowedGet_ForwardedAndRecorded()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        var response = await client.GetAsync(h.Url("allowed.test", "/hello?page=2"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("upstream:main HTTP/1.1", await response.Content.ReadAsStringAsync());

        var seen = Assert.Single(h.Upstream.Requests);
        Assert.Equal("allowed.test", seen.Sni);
        Assert.Equal($"allowed.test:{h.HttpsTarget.Port}", seen.Headers["host"]);
        Assert.Equal("/hello?page=2", seen.RawTarget);

        var e = Assert.Single(h.Events.Network);
        Assert.Equal(("https", "allowed.test", "127.0.0.1", h.HttpsTarget.Port), (e.Kind, e.Host, e.Address, e.Port));
        Assert.Equal((Decision.Allow, NetworkEvent.Passed, "GET", "/hello?page=2"), (e.Decision, e.Action, e.Method, e.Path));
        Assert.Equal($"allowed-endpoints: allowed.test:{h.HttpsTarget.Port}", e.Rule);
        Assert.Equal(1, h.ProxyCa.Minted);
        Assert.Empty(h.Events.Detections);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Https_ClientHttpVersion_PreservedAtUpstream(int major)
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client(new Version(major, major == 1 ? 1 : 0));
        var response = await client.GetAsync(h.Url("allowed.test"));
        Assert.Equal(new Version(major, major == 1 ? 1 : 0), response.Version);
        var protocol = major == 1 ? "HTTP/1.1" : "HTTP/2";
        Assert.Equal($"upstream:main {protocol}", await response.Content.ReadAsStringAsync());
        Assert.Equal(protocol, Assert.Single(h.Upstream.Requests).Protocol);
    }

    [Fact]
    public async Task Https_DeniedSni_TlsAlertAccessDeniedAndNothingUpstream()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var raw = await h.ExchangeAsync(true, h.HttpsTarget, ClientHelloBuilder.Build("other.test", ["h2"]), TimeSpan.FromSeconds(5), halfClose: false);
        Assert.True(raw.Closed);
        Assert.Equal(AccessDeniedAlert, raw.Data);

        // a real TLS client reports the alert
        using var client = h.Client();
        var ex = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(h.Url("other.test")));
        Assert.IsType<AuthenticationException>(ex.InnerException);

        Assert.Equal(0, h.Upstream.Connections);
        Assert.All(h.Events.Network, e => Assert.Equal((Decision.Deny, NetworkEvent.Blocked, "other.test"), (e.Decision, e.Action, e.Host)));
        Assert.Equal(2, h.Events.Network.Count);
        Assert.Equal(0, h.ProxyCa.Minted);
    }

    [Fact]
    public async Task Https_DomainFrontingHttp11_403AndUpstreamReceivesNothing()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.TlsClient("allowed.test", HttpVersion.Version11);
        var response = await client.GetAsync(h.PlainUrl("api.test", "/secret"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("domain fronting: Host 'api.test' does not match SNI 'allowed.test'", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        AssertFrontingBlocked(h);
    }

    [Fact]
    public async Task Https_DomainFrontingHttp2Authority_403AndUpstreamReceivesNothing()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        await using var tls = await h.TlsAsync("allowed.test", SslApplicationProtocol.Http2);
        var raw = await RawHttp2.GetAsync(tls, "api.test", "/secret", TimeSpan.FromSeconds(5));
        Assert.Contains("domain fronting: Host 'api.test' does not match SNI 'allowed.test'", raw, StringComparison.Ordinal);
        AssertFrontingBlocked(h);
    }

    private static void AssertFrontingBlocked(ProxyHarness h)
    {
        Assert.Empty(h.Upstream.Requests);
        // the only upstream connection is the one opened for the allowed SNI during the handshake (it may still be
        // connecting); it carried nothing
        Assert.Equal(1, h.Proxy.EarlyUpstreamConnections);
        Assert.InRange(h.Upstream.Connections, 0, 1);
        var d = Assert.Single(h.Events.Detections);
        Assert.Equal("domain-fronting", d.Type);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal((Decision.Deny, NetworkEvent.Blocked, "allowed.test"), (e.Decision, e.Action, e.Host));
    }

    [Fact]
    public async Task Https_PostWhereOnlyGetAllowed_403NamingTheRule()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        var ok = await client.GetAsync(h.Url("api.test", "/repos/acme/web"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);

        var response = await client.PostAsync(h.Url("api.test", "/repos/acme/web"), new StringContent("{\"x\":1}"));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("text/plain; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        Assert.Equal("HardenRunner: blocked by policy: rules[api.test]: no allow entry matches\n", await response.Content.ReadAsStringAsync());
        Assert.Single(h.Upstream.Requests); // only the GET
        Assert.Equal(["GET", "POST"], h.Events.Network.Select(e => e.Method));
        Assert.Equal([NetworkEvent.Passed, NetworkEvent.Blocked], h.Events.Network.Select(e => e.Action));
    }

    [Theory]
    [InlineData("/repos/acme/../../gists/1")]
    [InlineData("/repos/acme/%2e%2e/%2e%2e/gists/1")]
    [InlineData("/repos/acme/%2E%2e/%2e%2E/gists")]
    [InlineData("//gists/1")]
    [InlineData("/repos/acme/..%2f..%2fgists")]
    [InlineData("/repos/acme%2f..%2f..%2fgists")]
    [InlineData("/repos/acme/%252e%252e/%252e%252e/gists")]
    [InlineData("/repos/acme/..;/..;/gists")]
    [InlineData("/GISTS/1")]
    [InlineData("/repos/acme/../GISTS/../../Gists/x")]
    public async Task Https_TraversalTricks_403AndNothingForwarded(string target)
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        var url = new Uri(h.Url("api.test", target), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        var response = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Empty(h.Upstream.Requests);
    }

    [Fact]
    public async Task Https_DotSegmentsOnRuledHost_UpstreamGetsTheCheckedPath()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        var url = new Uri(h.Url("api.test", "/repos/./acme//web/%7Ex?q=a%2Fb"), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(url)).StatusCode);
        Assert.Equal("/repos/acme/web/~x?q=a%2Fb", Assert.Single(h.Upstream.Requests).RawTarget);
    }

    [Fact]
    public async Task Https_FirstRequest_NameResolvedOnceDuringTheHandshake_LaterConnectionsAskAgain()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using (var client = h.TlsClient("allowed.test", HttpVersion.Version11))
        {
            // the SNI's addresses are asked for while the handshake runs; the destination check and the upstream
            // connect of the first request both use that one answer
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(h.PlainUrl("allowed.test", "/one"))).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(h.PlainUrl("allowed.test", "/two"))).StatusCode);
        }

        Assert.Equal(1, h.Resolver.Queries.Count(q => q == "allowed.test"));
        Assert.Equal(["/one", "/two"], h.Upstream.Requests.Select(r => r.RawTarget));

        // a new client connection: asked again (an answer is used for its own connection's first request only)
        using (var again = h.TlsClient("allowed.test", HttpVersion.Version11))
        {
            Assert.Equal(HttpStatusCode.OK, (await again.GetAsync(h.PlainUrl("allowed.test", "/three"))).StatusCode);
        }

        Assert.Equal(2, h.Resolver.Queries.Count(q => q == "allowed.test"));
    }

    [Fact]
    public async Task Https_DeniedSni_NeverResolved()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.TlsClient("other.test", HttpVersion.Version11);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync(h.PlainUrl("other.test", "/x")));
        Assert.DoesNotContain("other.test", h.Resolver.Queries);
    }

    [Fact]
    public async Task Audit_DeniedRequestsPass_RecordedAsDenyPassed()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Audit);
        using var client = h.Client();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync(h.Url("api.test", "/gists"), new StringContent("x"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(h.Url("other.test", "/x"))).StatusCode); // denied SNI, intercepted
        using var fronting = h.TlsClient("allowed.test", HttpVersion.Version11);
        Assert.Equal(HttpStatusCode.OK, (await fronting.GetAsync(h.PlainUrl("open.test", "/f"))).StatusCode);

        Assert.Equal(3, h.Upstream.Requests.Count);
        // transparent: the upstream sees the client's SNI and the client's Host; the connection goes to an address of
        // the SNI name (allowed.test), the only name the policy and the resolver were asked about
        Assert.Equal($"open.test:{h.HttpsTarget.Port}", h.Upstream.Requests.Last().Headers["host"]);
        Assert.Equal("allowed.test", h.Upstream.Requests.Last().Sni);
        Assert.DoesNotContain("open.test", h.Resolver.Queries);
        Assert.All(h.Events.Network, e => Assert.Equal((Decision.Deny, NetworkEvent.Passed), (e.Decision, e.Action)));
        Assert.Equal(["rules[api.test] deny * /gists/**", "not in allowed-endpoints"], h.Events.Network.Take(2).Select(e => e.Rule));
        Assert.Single(h.Events.Detections);
    }

    [Theory]
    [InlineData(EgressMode.Audit, "other.test", Decision.Deny)]
    [InlineData(EgressMode.Block, "allowed.test", Decision.Allow)]
    public async Task InterceptedWithoutRequest_ClientDistrustsTheCa_StillRecorded(EgressMode mode, string sni, Decision decision)
    {
        await using var h = await ProxyHarness.StartAsync(Policy, mode);
        using var socket = await h.ConnectAsync(true, h.HttpsTarget);
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), false, h.UpstreamCa.Trust()); // not the proxy's CA
        await Assert.ThrowsAsync<AuthenticationException>(() => ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni }));
        socket.Close();
        await WaitForAsync(() => h.Events.Network.Count == 1);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal((sni, decision, NetworkEvent.Passed, (string?)null), (e.Host, e.Decision, e.Action, e.Method));
        Assert.EndsWith("no HTTP request (TLS handshake failed or connection closed)", e.Rule, StringComparison.Ordinal);
        // an allowed name's upstream connection may have been opened during the handshake; no request used it, and it
        // is closed with the client's connection
        await WaitForAsync(() => h.Proxy.OpenUpstreamConnections(sni, h.HttpsTarget.Port) == 0);
        Assert.Equal(0, h.Proxy.OpenUpstreamConnections(sni, h.HttpsTarget.Port));
        Assert.Empty(h.Upstream.Requests);
        Assert.InRange(h.Upstream.Connections, 0, h.Proxy.EarlyUpstreamConnections);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Block_NoSniAndNonTls_ClosedNeverForwarded()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var noSni = await h.ExchangeAsync(true, h.HttpsTarget, ClientHelloBuilder.Build(null, ["h2"]), TimeSpan.FromSeconds(5), halfClose: false);
        Assert.True(noSni.Closed);
        Assert.Equal(AccessDeniedAlert, noSni.Data);

        var plain = await h.ExchangeAsync(true, h.HttpsTarget, Encoding.ASCII.GetBytes($"GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), TimeSpan.FromSeconds(5), halfClose: false);
        Assert.True(plain.Closed);
        Assert.Empty(plain.Data);

        var broken = await h.ExchangeAsync(true, h.HttpsTarget, [22, 3, 1, 0, 5, 1, 0, 0, 1, 0], TimeSpan.FromSeconds(5), halfClose: false);
        Assert.True(broken.Closed);

        Assert.Equal(0, h.Upstream.Connections);
        Assert.Equal(3, h.Events.Network.Count);
        Assert.All(h.Events.Network, e => Assert.Equal((Decision.Deny, NetworkEvent.Blocked, (string?)null), (e.Decision, e.Action, e.Host)));
        Assert.Contains(h.Events.Network, e => e.Rule.StartsWith("tls: no SNI", StringComparison.Ordinal));
        Assert.Contains(h.Events.Network, e => e.Rule.StartsWith("tls: not TLS", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Block_NoSniToAnAllowedAddress_Spliced()
    {
        await using var h = await ProxyHarness.StartAsync(Policy + "\nallowed-cidrs:\n  - 127.0.0.1/32:{https}\n", EgressMode.Block);
        using var socket = await h.ConnectAsync(true, h.HttpsTarget);
        var issuer = new X509IssuerCapture();
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), false, issuer.Wrap((_, _, _, _) => true));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "127.0.0.1" }); // an address: no SNI
        Assert.Equal(h.UpstreamCa.Certificate.Subject, issuer.Issuer); // the upstream's own certificate: spliced
        await ssl.WriteAsync(Encoding.ASCII.GetBytes("GET /cidr HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 200", await new StreamReader(ssl).ReadToEndAsync(), StringComparison.Ordinal);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal((Decision.Allow, NetworkEvent.Passed, (string?)null), (e.Decision, e.Action, e.Host));
        Assert.Equal($"tls: no SNI in the ClientHello; allowed-cidrs: 127.0.0.1/32:{h.HttpsTarget.Port}", e.Rule);
    }

    [Fact]
    public async Task Audit_NonTls_SplicedToTheOriginalAddressAndRecorded()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Audit);
        var r = await h.ExchangeAsync(true, h.HttpTarget, Encoding.ASCII.GetBytes("GET /plain HTTP/1.1\r\nHost: whatever.test\r\nConnection: close\r\n\r\n"), TimeSpan.FromSeconds(10), halfClose: false);
        Assert.StartsWith("HTTP/1.1 200", r.Text, StringComparison.Ordinal);
        Assert.Equal("/plain", Assert.Single(h.Upstream.Requests).RawTarget);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal((Decision.Deny, NetworkEvent.Passed, (string?)null), (e.Decision, e.Action, e.Host));
    }

    [Fact]
    public async Task Passthrough_SplicedByteForByte_ClientSeesTheUpstreamCertificate()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var socket = await h.ConnectAsync(true, h.HttpsTarget);
        X509IssuerCapture issuer = new();
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), false, issuer.Wrap(h.UpstreamCa.Trust()));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "pinned.test" });
        Assert.Equal(h.UpstreamCa.Certificate.Subject, issuer.Issuer);
        await ssl.WriteAsync(Encoding.ASCII.GetBytes("GET /pinned HTTP/1.1\r\nHost: pinned.test\r\nConnection: close\r\n\r\n"));
        var text = await new StreamReader(ssl).ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.Contains("upstream:main HTTP/1.1", text, StringComparison.Ordinal);
        Assert.Equal("pinned.test", Assert.Single(h.Upstream.Requests).Sni);
        Assert.Equal(0, h.ProxyCa.Minted);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal(("pinned.test", Decision.Allow, NetworkEvent.Passed, (string?)null), (e.Host, e.Decision, e.Action, e.Method));
    }

    [Fact]
    public async Task OriginalDestinationNotAmongResolved_ForwardedToTheResolvedAddressOnly()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var attacker = await h.AddUpstreamAsync("attacker", IPAddress.Parse("127.0.0.2"));
        using var client = h.Client(destination: attacker.Https);
        var body = await client.GetStringAsync(h.Url("allowed.test", "/exfil"));
        Assert.Equal("upstream:main HTTP/1.1", body);

        // passthrough too: spliced to the name's address, not the one the client aimed at
        using var socket = await h.ConnectAsync(true, attacker.Https);
        using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false), false, h.UpstreamCa.Trust());
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "pinned.test" });
        await ssl.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: pinned.test\r\nConnection: close\r\n\r\n"));
        Assert.Contains("upstream:main HTTP/1.1", await new StreamReader(ssl).ReadToEndAsync(), StringComparison.Ordinal);

        Assert.Equal(0, attacker.Connections);
        Assert.Empty(attacker.Requests);
        Assert.Equal(2, h.Upstream.Requests.Count);
        Assert.All(h.Events.Network, e => Assert.Equal("127.0.0.2", e.Address)); // recorded where the client aimed
        var detections = h.Events.Detections;
        Assert.Equal(2, detections.Count);
        Assert.All(detections, d => Assert.Equal(("sni-mismatch", "127.0.0.2"), (d.Type, d.Evidence["address"])));
        Assert.Equal(["allowed.test", "pinned.test"], detections.Select(d => d.Evidence["host"]));
    }

    [Fact]
    public async Task OriginalDestinationAmongResolved_IsPreferred()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var second = await h.AddUpstreamAsync("second", IPAddress.Parse("127.0.0.2"));
        h.Resolver.Set("allowed.test", IPAddress.Loopback, IPAddress.Parse("127.0.0.2"));
        using var toSecond = h.Client(destination: second.Https);
        Assert.Equal("upstream:second HTTP/1.1", await toSecond.GetStringAsync(h.Url("allowed.test")));
        Assert.Equal(0, h.Upstream.Connections);
    }

    [Fact]
    public async Task DualModeListener_IPv4AndIPv6ClientsAndDestinations()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block, o => o with { ListenAddress = IPAddress.IPv6Any });
        Assert.Equal(IPAddress.IPv6Any, h.Proxy.HttpsEndpoint.Address);
        var v6 = await h.AddUpstreamAsync("v6", IPAddress.IPv6Loopback);
        h.Resolver.Set("allowed.test", IPAddress.Loopback, IPAddress.IPv6Loopback);

        using var overV6 = new HttpClient(h.Handler(v6.Https, AddressFamily.InterNetworkV6));
        Assert.Equal("upstream:v6 HTTP/1.1", await overV6.GetStringAsync(h.Url("allowed.test", "/6")));
        using var overV4 = new HttpClient(h.Handler(h.HttpsTarget, AddressFamily.InterNetwork));
        Assert.Equal("upstream:main HTTP/1.1", await overV4.GetStringAsync(h.Url("www.allowed.test", "/4")));
        Assert.Equal(["::1", "127.0.0.1"], h.Events.Network.Select(e => e.Address));
        Assert.Empty(h.Events.Detections);
    }

    [Fact]
    public async Task StartAsync_PortTaken_ThrowsAndLeavesNothingListening()
    {
        using var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen(1);
        var takenPort = ((IPEndPoint)taken.LocalEndPoint!).Port;
        using var free = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        free.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var httpsPort = ((IPEndPoint)free.LocalEndPoint!).Port;
        free.Close();

        using var ca = new TestCa("x");
        var load = HardenRunner.Policy.Loading.PolicyLoader.Parse("egress-policy: block", "t.yml");
        await using var proxy = new TransparentProxy(
            new ProxyOptions { ListenAddress = IPAddress.Loopback, HttpsPort = httpsPort, HttpPort = takenPort, OriginalDestination = new FakeDestinations() },
            new HardenRunner.Policy.PolicyEngine(load.Policy!),
            ca,
            new StaticResolver(),
            new ProxyEvents());
        await Assert.ThrowsAnyAsync<IOException>(() => proxy.StartAsync(CancellationToken.None));
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(async () => await probe.ConnectAsync(IPAddress.Loopback, httpsPort));
    }

    [Fact]
    public async Task StalledClientHello_ClosedAfterTheTimeoutAndNothingForwarded()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block, o => o with { ClientHelloTimeout = TimeSpan.FromSeconds(1) });
        var hello = ClientHelloBuilder.Build("allowed.test");
        var watch = Stopwatch.StartNew();
        var r = await h.ExchangeAsync(true, h.HttpsTarget, hello[..(hello.Length / 2)], TimeSpan.FromSeconds(10), halfClose: false);
        Assert.True(r.Closed);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(5));
        Assert.Equal(0, h.Upstream.Connections);
        var e = Assert.Single(h.Events.Network);
        Assert.Equal((Decision.Deny, NetworkEvent.Blocked), (e.Decision, e.Action));
        Assert.StartsWith("tls: no complete ClientHello within 1 s", e.Rule, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http10WithoutHost_UsesTheSni()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        await using var tls = await h.TlsAsync("allowed.test", SslApplicationProtocol.Http11);
        await tls.WriteAsync(Encoding.ASCII.GetBytes("GET /old HTTP/1.0\r\n\r\n"));
        var text = await new StreamReader(tls).ReadToEndAsync();
        Assert.StartsWith("HTTP/1.1 200", text, StringComparison.Ordinal);
        Assert.Equal("allowed.test", Assert.Single(h.Events.Network).Host);
    }

    [Fact]
    public async Task Forwarding_AddsNoHeaders_AndKeepsTheClients()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, h.Url("allowed.test", "/h"));
        request.Headers.Add("X-Custom", "1");
        request.Headers.Add("Connection", "X-Hop");
        request.Headers.Add("X-Hop", "must-not-pass");
        request.Headers.Add("Keep-Alive", "timeout=5");
        await client.SendAsync(request);
        var seen = Assert.Single(h.Upstream.Requests);
        Assert.Equal(["host", "x-custom"], seen.Headers.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task LargeBodies_50MiBEachWay_StreamedInBoundedTime()
    {
        const long size = 50L * 1024 * 1024;
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var watch = Stopwatch.StartNew();
        using (var client = h.Client())
        {
            using var content = new StreamContent(new PatternStream(size));
            using var response = await client.PostAsync(h.Url("allowed.test", "/upload"), content);
            Assert.Equal(size.ToString(System.Globalization.CultureInfo.InvariantCulture), await response.Content.ReadAsStringAsync());
        }

        using (var client = h.Client(HttpVersion.Version20))
        {
            using var response = await client.GetAsync(h.Url("allowed.test", $"/download/{size}"), HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(size, await CountAsync(await response.Content.ReadAsStreamAsync()));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(40), $"took {watch.Elapsed}");
        Assert.Contains(h.Upstream.Requests, r => r.BodyLength == size);
    }

    [Fact]
    public async Task WebSocket_UpgradeThroughTheProxy_Echoes()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var ws = new ClientWebSocket();
        using var invoker = new HttpMessageInvoker(h.Handler());
        await ws.ConnectAsync(new Uri($"wss://allowed.test:{h.HttpsTarget.Port}/ws"), invoker, CancellationToken.None);
        await ws.SendAsync(Encoding.UTF8.GetBytes("ping"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[64];
        var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
        Assert.Equal("ping", Encoding.UTF8.GetString(buffer, 0, r.Count));
        await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
        Assert.Equal("/ws", Assert.Single(h.Upstream.Requests).RawTarget);
    }

    [Fact]
    public async Task KeepAlive_OneClientConnectionAndOneUpstreamConnectionForManyRequests()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(h.Url("allowed.test", $"/k{i}"))).StatusCode);
        }

        Assert.Equal(1, h.Destinations.Reads);
        Assert.Equal(1, h.Upstream.Connections);
        Assert.Equal(5, h.Events.Network.Count);
    }

    [Fact]
    public async Task UpstreamSockets_ConfiguredByTheMarkCallbackAndOutsideTheClientPortRange()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        await client.GetAsync(h.Url("allowed.test"));
        Assert.Single(h.Marked);
        if (PortRange.OutsideEphemeral() is { } range)
        {
            Assert.True(range.Contains(Assert.Single(h.Upstream.Requests).Remote.Port));
        }
    }

    [Fact]
    public async Task Secrets_NeverInEventsOrLogs()
    {
        const string bearer = "ghp_SECRETsecretSECRETsecret0123456789";
        const string cookie = "SESSIONCOOKIEVALUE42";
        const string queryToken = "QUERYTOKENVALUE77";
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Audit);
        using var client = h.Client();
        foreach (var host in new[] { "allowed.test", "exfil-not-allowed.test", "api.test" })
        {
            h.Resolver.Set("exfil-not-allowed.test", IPAddress.Loopback);
            using var request = new HttpRequestMessage(HttpMethod.Get, h.Url(host, $"/p?access_token={queryToken}&x=1&q={bearer}"));
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            request.Headers.Add("Cookie", $"session={cookie}");
            await client.SendAsync(request);
        }

        Assert.Contains(h.Upstream.Requests, r => r.Headers["authorization"] == $"Bearer {bearer}"); // forwarded untouched
        var everything = JsonSerializer.Serialize(h.Events.All.Cast<object>().ToList()) + string.Join("\n", h.Logs.Lines);
        foreach (var secret in new[] { bearer, cookie, queryToken, "SECRETsecret" })
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        }

        Assert.Contains("access_token=[REDACTED]", h.Events.Network[0].Path!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PlainHttp_HostDecides_SameHandler()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        var ok = await client.GetAsync(h.Url("allowed.test", "/plain", tls: false));
        Assert.Equal("upstream:main HTTP/1.1", await ok.Content.ReadAsStringAsync());
        Assert.Equal("http", Assert.Single(h.Upstream.Requests).Scheme);

        var denied = await client.GetAsync(h.Url("exfil.test", "/x", tls: false));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        var ruled = await client.PostAsync(h.Url("api.test", "/repos/acme/x", tls: false), new StringContent("x"));
        Assert.Equal(HttpStatusCode.Forbidden, ruled.StatusCode);
        Assert.Single(h.Upstream.Requests);
        Assert.Equal(["http", "http", "http"], h.Events.Network.Select(e => e.Kind));
    }

    [Fact]
    public async Task PlainHttp_HostAimedAtAnotherAddress_GoesToTheHostsAddress()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var attacker = await h.AddUpstreamAsync("attacker", IPAddress.Parse("127.0.0.2"));
        using var client = h.Client(destination: attacker.Http);
        Assert.Equal("upstream:main HTTP/1.1", await client.GetStringAsync(h.Url("allowed.test", "/", tls: false)));
        Assert.Equal("upstream:main HTTP/1.1", await client.GetStringAsync(h.Url("allowed.test", "/again", tls: false)));
        Assert.Equal(0, attacker.Connections);
        Assert.Equal("sni-mismatch", Assert.Single(h.Events.Detections).Type); // once per connection and name
    }

    [Fact]
    public async Task UpstreamCertificate_NotMatchingTheName_502AndNoRequestUpstream()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client();
        var response = await client.GetAsync(h.Url("nocert.test"));
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Empty(h.Upstream.Requests);
    }

    [Fact]
    public async Task UpstreamCertificate_UnknownRootWithoutExtraRoots_502()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block, o => o with { UpstreamRoots = [] });
        using var client = h.Client();
        Assert.Equal(HttpStatusCode.BadGateway, (await client.GetAsync(h.Url("allowed.test"))).StatusCode);
        Assert.Empty(h.Upstream.Requests);
    }

    [Fact]
    public async Task Http2_TrailersPassThrough_GrpcShaped()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        using var client = h.Client(HttpVersion.Version20);
        using var request = new HttpRequestMessage(HttpMethod.Post, h.Url("allowed.test", "/trailers"))
        {
            Content = new ByteArrayContent([0, 0, 0, 0, 0]),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new("application/grpc");
        request.Headers.TE.ParseAdd("trailers");
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("HTTP/2", Assert.Single(h.Upstream.Requests).Protocol);
    }

    [Fact]
    public async Task NotRedirected_ConnectionRefusedAndRecorded()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Audit);
        h.Destinations.Default = null;
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, h.Proxy.HttpsEndpoint.Port);
        var buffer = new byte[16];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        int n;
        try
        {
            await socket.SendAsync(ClientHelloBuilder.Build("allowed.test"));
            n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        }
        catch (SocketException)
        {
            n = 0;
        }

        Assert.Equal(0, n);
        Assert.Equal(0, h.Upstream.Connections);
        Assert.Contains(h.Events.Network, e => e.Rule.Contains("not redirected", StringComparison.Ordinal) && e.Action == NetworkEvent.Blocked);
    }

    [Fact]
    public async Task RejectedSmugglingShape_ContentLengthAndTransferEncoding_NotForwarded()
    {
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Audit);
        var r = await h.ExchangeAsync(false, h.HttpTarget, Encoding.ASCII.GetBytes(
            "POST /x HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: allowed.test\r\n\r\n"), TimeSpan.FromSeconds(5), halfClose: false);
        Assert.StartsWith("HTTP/1.1 400", r.Text, StringComparison.Ordinal);
        Assert.Empty(h.Upstream.Requests);
    }

    private static async Task<long> CountAsync(Stream s)
    {
        var buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await s.ReadAsync(buffer)) > 0)
        {
            total += n;
        }

        return total;
    }

    private sealed class X509IssuerCapture
    {
        public string? Issuer { get; private set; }

        public RemoteCertificateValidationCallback Wrap(RemoteCertificateValidationCallback inner) => (s, c, ch, e) =>
        {
            Issuer = c?.Issuer;
            return inner(s, c, ch, e);
        };
    }

    /// <summary>A read-only stream of <c>length</c> bytes that are never all in memory.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            buffer.AsSpan(offset, n).Fill((byte)'x');
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
