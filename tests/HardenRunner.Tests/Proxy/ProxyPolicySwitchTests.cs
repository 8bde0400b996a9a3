using System.Net;
using HardenRunner.Events;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Proxy;

/// <summary>The proxy on loopback while its policy is switched in place (service mode).</summary>
public sealed class ProxyPolicySwitchTests
{
    [Fact]
    public async Task FromAuditToBlock_TheNextRequest_EvenOnTheSameConnection_IsDecidedByTheNewPolicy()
    {
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Audit);
        using var client = h.Client();

        // audit: a path the rules deny passes and is recorded as denied
        var before = await client.GetAsync(h.Url("api.test", "/gists/1"));
        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Single(h.Upstream.Requests);

        h.Policy.Replace(h.Engine(TransparentProxyTests.Policy, EgressMode.Block));

        // the kept-alive connection's next request gets 403 and never reaches the upstream
        var after = await client.GetAsync(h.Url("api.test", "/gists/2"));
        Assert.Equal(HttpStatusCode.Forbidden, after.StatusCode);
        Assert.Single(h.Upstream.Requests);
        Assert.Equal(1, h.Upstream.Connections);
        var allowed = await client.GetAsync(h.Url("api.test", "/repos/acme/x"));
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);

        var gists = h.Events.Network.Where(e => e.Path?.StartsWith("/gists/", StringComparison.Ordinal) == true).ToList();
        Assert.Equal([NetworkEvent.Passed, NetworkEvent.Blocked], gists.Select(e => e.Action));
        Assert.All(gists, e => Assert.Equal(Decision.Deny, e.Decision));
    }

    [Fact]
    public async Task ANewConnectionToANameTheNewPolicyDenies_GetsTheTlsAlert()
    {
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Audit);
        h.Policy.Replace(h.Engine("allowed-endpoints:\n  - api.test:{https}\n", EgressMode.Block));
        using var client = h.Client();
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(h.Url("allowed.test")));
        Assert.Equal(0, h.Upstream.Connections);
        Assert.Contains(h.Events.Network, e => e.Host == "allowed.test" && e.Action == NetworkEvent.Blocked);
    }
}
