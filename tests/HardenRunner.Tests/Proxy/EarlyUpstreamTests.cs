using System.Diagnostics;
using System.Net;
using System.Net.Security;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy.Upstream;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// The first request's upstream connection, opened while the client's TLS handshake runs (<see cref="EarlyUpstream"/>):
/// on loopback with a real Kestrel upstream that counts its connections.
/// </summary>
public sealed class EarlyUpstreamTests
{
    [Theory]
    [InlineData("1.1")]
    [InlineData("2.0")]
    public async Task FirstRequest_ServedOnTheConnectionOpenedDuringTheHandshake_InTheClientsVersion(string version)
    {
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Block);
        var v = Version.Parse(version);
        using var client = h.Client(v);

        var body = await client.GetStringAsync(h.Url("allowed.test", "/first"));

        Assert.Equal(v.Major == 2 ? "upstream:main HTTP/2" : "upstream:main HTTP/1.1", body);
        Assert.Equal(1, h.Proxy.EarlyUpstreamConnections);
        Assert.Equal(1, h.Upstream.Connections); // the early connection carried the request: no second one was made
        Assert.Equal("allowed.test", Assert.Single(h.Upstream.Requests).Sni);
    }

    [Fact]
    public async Task NewClientConnection_WhileTheUpstreamConnectionIsOpen_ReusesIt_NoEarlyConnection()
    {
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Block);
        using (var first = h.Client())
        {
            Assert.Equal("upstream:main HTTP/1.1", await first.GetStringAsync(h.Url("allowed.test", "/one")));
        }

        Assert.Equal(1, h.Proxy.OpenUpstreamConnections("allowed.test", h.HttpsTarget.Port)); // idle in the pool

        using var second = h.Client();
        Assert.Equal("upstream:main HTTP/1.1", await second.GetStringAsync(h.Url("allowed.test", "/two")));

        Assert.Equal(1, h.Proxy.EarlyUpstreamConnections);
        Assert.Equal(1, h.Upstream.Connections);
        Assert.Equal(2, h.Upstream.Requests.Count);
    }

    [Fact]
    public async Task DeniedFirstRequest_TheEarlyConnectionCarriesNothing_AndClosesWithTheClient()
    {
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Block);
        using (var client = h.Client())
        {
            var response = await client.PostAsync(h.Url("api.test", "/gists/new"), new StringContent("secret"));
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        Assert.Empty(h.Upstream.Requests);
        Assert.Equal(1, h.Proxy.EarlyUpstreamConnections);
        var watch = Stopwatch.StartNew();
        while (h.Proxy.OpenUpstreamConnections("api.test", h.HttpsTarget.Port) > 0 && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, h.Proxy.OpenUpstreamConnections("api.test", h.HttpsTarget.Port));
        Assert.Empty(h.Upstream.Requests);
    }

    [Fact]
    public async Task AttackerAddress_TheEarlyConnectionGoesToTheNamesOwnAddress()
    {
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Block);
        var attacker = await h.AddUpstreamAsync("attacker", IPAddress.Parse("127.0.0.2"));
        using var client = h.Client(destination: attacker.Https); // allowed SNI aimed at the attacker's address

        Assert.Equal("upstream:main HTTP/1.1", await client.GetStringAsync(h.Url("allowed.test", "/x")));

        Assert.Equal(1, h.Proxy.EarlyUpstreamConnections);
        Assert.Equal(0, attacker.Connections);
        Assert.Equal(1, h.Upstream.Connections);
    }

    [Fact]
    public void TryClaim_OnceAndOnlyForTheSameNamePortAndVersion()
    {
        var inner = new TrackedStream();
        var early = new EarlyUpstream("allowed.test", 443, offersHttp2: true, Task.FromResult(new SslStream(inner)));

        Assert.Null(early.TryClaim("other.test", 443, offerHttp2: true));
        Assert.Null(early.TryClaim("allowed.test", 8443, offerHttp2: true));
        Assert.Null(early.TryClaim("allowed.test", 443, offerHttp2: false)); // an HTTP/1.1 request must not get an h2 offer
        Assert.NotNull(early.TryClaim("ALLOWED.test", 443, offerHttp2: true));
        Assert.Null(early.TryClaim("allowed.test", 443, offerHttp2: true));

        early.Release(); // claimed: the handler owns it now
        Assert.False(inner.Disposed);
    }

    [Fact]
    public void TryClaim_TooLateAfterTheHandshake_Refused_ReleaseClosesIt()
    {
        var inner = new TrackedStream();
        var early = new EarlyUpstream("allowed.test", 443, offersHttp2: false, Task.FromResult(new SslStream(inner)), maxAge: TimeSpan.Zero);

        Assert.Null(early.TryClaim("allowed.test", 443, offerHttp2: false)); // the handler connects afresh
        early.Release();
        Assert.True(inner.Disposed);
    }

    [Fact]
    public async Task Release_Unclaimed_ClosesTheConnectionWhenItIsMade()
    {
        var inner = new TrackedStream();
        var made = new TaskCompletionSource<SslStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        var early = new EarlyUpstream("allowed.test", 443, offersHttp2: false, made.Task);

        early.Release();
        Assert.False(inner.Disposed);
        made.SetResult(new SslStream(inner));
        var watch = Stopwatch.StartNew();
        while (!inner.Disposed && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }

        Assert.True(inner.Disposed);
        Assert.Null(early.TryClaim("allowed.test", 443, offerHttp2: false)); // released: nobody can take it any more
    }

    [Fact]
    public async Task AwaitClaim_CallerGivesUp_TheConnectionIsClosedOnceMade()
    {
        var inner = new TrackedStream();
        var made = new TaskCompletionSource<SslStream>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancel = new CancellationTokenSource();
        var waiting = EarlyUpstream.AwaitClaimAsync(made.Task, cancel.Token).AsTask();

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        made.SetResult(new SslStream(inner));
        var watch = Stopwatch.StartNew();
        while (!inner.Disposed && watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(10);
        }

        Assert.True(inner.Disposed);
    }

    private sealed class TrackedStream : MemoryStream
    {
        public bool Disposed { get; private set; }

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
