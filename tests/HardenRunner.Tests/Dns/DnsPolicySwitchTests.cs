using ARSoft.Tools.Net.Dns;
using HardenRunner.Events;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using Transport = HardenRunner.Policy.Model.Transport;

namespace HardenRunner.Tests.Dns;

/// <summary>The DNS server on loopback while its policy is switched in place (service mode), against a real upstream.</summary>
public sealed class DnsPolicySwitchTests : IDisposable
{
    private readonly TestUpstream _upstream = TestUpstream.Start();

    public void Dispose() => _upstream.Dispose();

    private static ReturnCode Code(byte[]? response)
    {
        Assert.NotNull(response);
        return DnsMessage.Parse(response).ReturnCode;
    }

    [Fact]
    public async Task FromAuditToBlock_ADeniedNameIsNoLongerSentUpstream_AndCachedAllowedNamesGetTheNewPorts()
    {
        var active = new ActivePolicy(ServerUnderTest.Policy(EgressMode.Audit));
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], policy: active);

        Assert.Equal(ReturnCode.NoError, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))));
        Assert.Equal(ReturnCode.NoError, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("data.exfil.test", 1))));
        Assert.Equal(2, _upstream.Log.Count); // audit: the denied name went upstream
        Assert.Equal([new PortGrant(443, Transport.Tcp)], Assert.Single(s.Sink.Added).Grants);

        active.Replace(ServerUnderTest.Policy(EgressMode.Block, "allowed-endpoints:\n  - allowed.test:8443\n"));
        Assert.Equal(1, await s.Server.ReallowCachedAsync());

        // the cached address of allowed.test is allowed again, on the new policy's port only
        Assert.Equal(2, s.Sink.Added.Count);
        var again = s.Sink.Added.Last();
        Assert.Equal(TestUpstream.AllowedV4, again.Address);
        Assert.Equal([new PortGrant(8443, Transport.Tcp)], again.Grants);
        Assert.Equal(0, s.Server.CachedResponses);

        // block: the denied name is answered NXDOMAIN here and never reaches the upstream
        Assert.Equal(ReturnCode.NxDomain, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("more.exfil.test", 1))));
        Assert.Equal(2, _upstream.Log.Count);
        Assert.Contains(s.Events.Dns, e => e.Host == "more.exfil.test" && e.Action == NetworkEvent.Blocked);

        // the cache was emptied: the allowed name is resolved again under the new policy
        Assert.Equal(ReturnCode.NoError, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))));
        Assert.Equal(3, _upstream.Log.Count);
    }

    [Fact]
    public async Task ANameTheNewPolicyDenies_IsNotAllowedAgain()
    {
        var active = new ActivePolicy(ServerUnderTest.Policy(EgressMode.Audit));
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], policy: active);
        Assert.Equal(ReturnCode.NoError, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))));
        Assert.Single(s.Sink.Added);

        active.Replace(ServerUnderTest.Policy(EgressMode.Block, "allowed-endpoints:\n  - other.test:443\n"));
        Assert.Equal(0, await s.Server.ReallowCachedAsync());
        Assert.Single(s.Sink.Added);
        Assert.Equal(ReturnCode.NxDomain, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))));
    }

    [Fact]
    public async Task AnAnswerResolvedAcrossTheSwitch_IsNotCached_AndItsAllowCarriesTheOldPolicy()
    {
        var first = ServerUnderTest.Policy(EgressMode.Block);
        var active = new ActivePolicy(first);
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], policy: active);
        var gate = new TaskCompletionSource();
        s.Sink.Gate = gate.Task;

        var pending = DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1), TimeSpan.FromSeconds(10));
        for (var i = 0; i < 200 && _upstream.Log.IsEmpty; i++)
        {
            await Task.Delay(10);
        }

        Assert.Single(_upstream.Log); // resolved, its allow held by the sink
        var second = ServerUnderTest.Policy(EgressMode.Block);
        active.Replace(second);
        Assert.Equal(0, await s.Server.ReallowCachedAsync());
        gate.SetResult();
        Assert.Equal(ReturnCode.NoError, Code(await pending));
        s.Sink.Gate = null;

        // the allow was decided under the first policy (the firewall refuses such an allow once the second is in force)
        Assert.Same(first, Assert.Single(s.Sink.Added).DecidedBy);
        // and the answer was not cached: the next query is resolved (and allowed) under the second policy
        Assert.Equal(ReturnCode.NoError, Code(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))));
        Assert.Equal(2, _upstream.Log.Count);
        Assert.Same(second, s.Sink.Added.Last().DecidedBy);
    }
}
