using System.Net;
using HardenRunner.Netfilter;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Netfilter;

public sealed class DynamicAllowTrackerTests
{
    private static readonly AllowElement Ssh = new(IPAddress.Parse("192.0.2.10"), Transport.Tcp, 22);
    private static readonly AllowElement Dns6 = new(IPAddress.Parse("2001:db8::10"), Transport.Udp, 53);

    [Fact]
    public void Needed_ClampsTheTtl_AndAddsHeadroom()
    {
        var t = new DynamicAllowTracker(TimeSpan.FromSeconds(60), TimeSpan.FromHours(1), new ManualTime());

        Assert.Equal(TimeSpan.FromSeconds(75), Assert.Single(t.Needed([Ssh], TimeSpan.FromSeconds(5))).Timeout);
        Assert.Equal(TimeSpan.FromMinutes(65), Assert.Single(t.Needed([Ssh], TimeSpan.FromDays(1))).Timeout);
        Assert.Single(t.Needed([Ssh, Ssh], TimeSpan.FromSeconds(60))); // duplicates in one request
    }

    [Fact]
    public void Needed_SkipsElementsThatLastLongEnough_UntilTheHeadroomIsUsedUp()
    {
        var time = new ManualTime();
        var t = new DynamicAllowTracker(TimeSpan.FromSeconds(60), TimeSpan.FromHours(1), time);
        t.Committed(t.Needed([Ssh], TimeSpan.FromSeconds(60)), t.Now); // installed for 75 s

        Assert.Empty(t.Needed([Ssh], TimeSpan.FromSeconds(60)));
        time.Advance(TimeSpan.FromSeconds(14));
        Assert.Empty(t.Needed([Ssh], TimeSpan.FromSeconds(60)));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Single(t.Needed([Ssh], TimeSpan.FromSeconds(60)));
        Assert.Single(t.Needed([Dns6], TimeSpan.FromSeconds(1)));
    }

    [Fact]
    public void Committed_NeverShortensAnElement_AndLiveReportsWhatRemains()
    {
        var time = new ManualTime();
        var t = new DynamicAllowTracker(TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), time);
        t.Committed([new AllowElementTimeout(Ssh, TimeSpan.FromSeconds(100))], t.Now);
        t.Committed([new AllowElementTimeout(Ssh, TimeSpan.FromSeconds(10))], t.Now);
        time.Advance(TimeSpan.FromSeconds(40));

        Assert.Equal(TimeSpan.FromSeconds(60), Assert.Single(t.Live()).Timeout);
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.Empty(t.Live());
    }

    [Fact]
    public void Unexpected_FlagsElementsTheApplianceDidNotAdd()
    {
        var time = new ManualTime();
        var t = new DynamicAllowTracker(TimeSpan.FromSeconds(1), TimeSpan.FromHours(1), time);
        t.Committed([new AllowElementTimeout(Ssh, TimeSpan.FromSeconds(100))], t.Now);

        Assert.Empty(t.Unexpected([new ListedElement(Ssh, "", TimeSpan.FromSeconds(99))]));
        Assert.Single(t.Unexpected([new ListedElement(Ssh, "", null)])); // no timeout: never ours
        Assert.Single(t.Unexpected([new ListedElement(Ssh, "", TimeSpan.FromSeconds(3600))])); // outlives ours
        Assert.Single(t.Unexpected([new ListedElement(Dns6, "", TimeSpan.FromSeconds(10))])); // unknown
        Assert.Equal("{\"weird\":1}", Assert.Single(t.Unexpected([new ListedElement(null, "{\"weird\":1}", null)])));
    }
}
