using HardenRunner.Events;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Network;

namespace HardenRunner.Tests.Monitoring.Network;

public class PendingAttributionTests
{
    private static readonly Attribution Curl = new(new ProcessInfo(42, "/usr/bin/curl", "curl x"), new StepInfo("build", null));

    [Fact]
    public async Task WaitAsync_EndsWhenTheLookupEnds_WithTheResultKnown()
    {
        var pending = new PendingAttribution();
        var wait = pending.WaitAsync(TimeSpan.FromMinutes(5)).AsTask();
        Assert.False(wait.IsCompleted);

        pending.Complete(Curl);
        await wait.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(pending.TryGetResult(out var result));
        Assert.Equal(42, result.Process?.Pid);
    }

    [Fact]
    public async Task WaitAsync_GivesUpAfterItsLimit_AndTheEventsStillGetTheLateResult()
    {
        var pending = new PendingAttribution();
        await pending.WaitAsync(TimeSpan.FromMilliseconds(20)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(pending.IsCompleted);

        Attribution? seen = null;
        pending.Then(a => seen = a);
        pending.Complete(Curl);
        Assert.Equal("build", seen?.Step?.Action);
    }

    [Fact]
    public void WaitAsync_OnAKnownResult_IsDoneAtOnce()
    {
        Assert.True(PendingAttribution.FromResult(Curl).WaitAsync(TimeSpan.FromMinutes(5)).IsCompleted);
        Assert.True(PendingAttribution.Unknown.WaitAsync(TimeSpan.FromMinutes(5)).IsCompleted);
    }
}
