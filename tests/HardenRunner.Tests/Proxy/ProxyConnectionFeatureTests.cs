using System.Net;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Network;
using HardenRunner.Proxy.Connection;

namespace HardenRunner.Tests.Proxy;

/// <summary>The hold before a connection's first answer: one per connection, shared by every caller, ended by the lookup.</summary>
public class ProxyConnectionFeatureTests
{
    private static readonly IPEndPoint Destination = new(IPAddress.Parse("192.0.2.10"), 443);

    [Fact]
    public async Task Hold_IsOnePerConnection_SharedByEveryCaller_AndEndsWithTheLookup()
    {
        var pending = new PendingAttribution();
        var feature = new ProxyConnectionFeature(Destination, true, pending, TimeSpan.FromMinutes(5));

        var first = feature.HoldForAttributionAsync();
        var second = feature.HoldForAttributionAsync(); // e.g. a second HTTP/2 stream: the same wait, not a new bound
        Assert.Same(first, second);
        Assert.False(first.IsCompleted);

        pending.Complete(Attribution.Unknown);
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(feature.HoldForAttributionAsync().IsCompleted);
    }

    [Fact]
    public async Task Hold_ThatRanOut_IsNotStartedAgain()
    {
        var pending = new PendingAttribution();
        var feature = new ProxyConnectionFeature(Destination, true, pending, TimeSpan.FromMilliseconds(20));

        await feature.HoldForAttributionAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(pending.IsCompleted); // the lookup goes on in the background
        Assert.True(feature.HoldForAttributionAsync().IsCompleted); // later answers do not wait again
    }

    [Fact]
    public void Hold_WithoutALookup_OrWithAZeroWait_OrAKnownResult_IsDoneAtOnce()
    {
        Assert.True(new ProxyConnectionFeature(Destination, true).HoldForAttributionAsync().IsCompleted);
        Assert.True(new ProxyConnectionFeature(Destination, true, new PendingAttribution(), TimeSpan.Zero).HoldForAttributionAsync().IsCompleted);
        Assert.True(new ProxyConnectionFeature(Destination, true, PendingAttribution.Unknown, TimeSpan.FromMinutes(5)).HoldForAttributionAsync().IsCompleted);
    }
}
