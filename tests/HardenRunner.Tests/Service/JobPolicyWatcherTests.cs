using HardenRunner.Service;

namespace HardenRunner.Tests.Service;

public sealed class JobPolicyWatcherTests
{
    private static readonly byte[] Audit = "egress-policy: audit\n"u8.ToArray();
    private static readonly byte[] Block = "egress-policy: block\n"u8.ToArray();
    private static readonly byte[] Looser = "egress-policy: audit\nallowed-endpoints:\n  - exfil.test:443\n"u8.ToArray();

    [Fact]
    public void NoFile_DoesNothing()
    {
        var w = new JobPolicyWatcher();
        Assert.Null(w.Observe(null));
        Assert.Null(w.Observe(null));
    }

    [Fact]
    public void AFile_IsTakenOnlyOnceTheSameContentWasSeenTwice()
    {
        var w = new JobPolicyWatcher();
        Assert.Null(w.Observe(Block)); // may still be being written
        var take = Assert.IsType<TakeJobPolicy>(w.Observe(Block));
        Assert.Equal(Block, take.Content);
        w.Taken(enforcing: true);
        Assert.True(w.Enforcing);
        Assert.Null(w.Observe(Block)); // the same content is not taken again
    }

    [Fact]
    public void AContentThatKeepsChanging_IsNotTakenUntilItSettles()
    {
        var w = new JobPolicyWatcher();
        Assert.Null(w.Observe(Audit));
        Assert.Null(w.Observe(Block));
        Assert.Null(w.Observe(Audit));
        Assert.IsType<TakeJobPolicy>(w.Observe(Audit));
    }

    [Fact]
    public void FromAudit_ANewContentIsTakenAgain_SoACheckoutThatTurnsOnBlockAppliesInTheSameJob()
    {
        var w = new JobPolicyWatcher();
        w.Observe(Audit);
        Assert.IsType<TakeJobPolicy>(w.Observe(Audit));
        w.Taken(enforcing: false);
        Assert.Null(w.Observe(Block));
        var take = Assert.IsType<TakeJobPolicy>(w.Observe(Block));
        Assert.Equal(Block, take.Content);
        w.Taken(enforcing: true);
        Assert.True(w.Enforcing);
    }

    [Fact]
    public void OnceBlockIsInForce_AChangeIsReportedOncePerContent_AndNeverTaken()
    {
        var w = new JobPolicyWatcher();
        w.Observe(Block);
        w.Observe(Block);
        w.Taken(enforcing: true);
        Assert.Null(w.Observe(Looser));
        Assert.IsType<JobPolicyChangeIgnored>(w.Observe(Looser));
        Assert.Null(w.Observe(Looser));
        Assert.Null(w.Observe(null)); // deleting it does not turn enforcement off either
        Assert.Null(w.Observe(Audit));
        Assert.IsType<JobPolicyChangeIgnored>(w.Observe(Audit));
        Assert.Null(w.Observe(Block)); // back to what is in force: nothing to report
        Assert.Null(w.Observe(Block));
        Assert.Null(w.Observe(Looser));
        Assert.Null(w.Observe(Looser)); // already reported
        Assert.True(w.Enforcing);
    }

    [Fact]
    public void AnInvalidFile_IsTakenOnce_AndItsFixIsTaken()
    {
        var w = new JobPolicyWatcher();
        var invalid = "egress-policy: blok\n"u8.ToArray();
        w.Observe(invalid);
        Assert.IsType<TakeJobPolicy>(w.Observe(invalid));
        w.Taken(enforcing: false);
        Assert.Null(w.Observe(invalid));
        Assert.Null(w.Observe(Block));
        Assert.IsType<TakeJobPolicy>(w.Observe(Block));
    }

    [Fact]
    public void ARefusedFile_IsReportedOnceWithItsReason()
    {
        var w = new JobPolicyWatcher();
        Assert.Null(w.Observe(null, "a symbolic link is in the way"));
        var refused = Assert.IsType<JobPolicyRefused>(w.Observe(null, "a symbolic link is in the way"));
        Assert.Contains("symbolic link", refused.Reason, StringComparison.Ordinal);
        w.Taken(enforcing: false);
        Assert.Null(w.Observe(null, "a symbolic link is in the way"));
    }

    [Fact]
    public void ATakeThatCouldNotBeCarriedOut_IsRetriedAtTheNextLook()
    {
        var w = new JobPolicyWatcher();
        w.Observe(Block);
        Assert.IsType<TakeJobPolicy>(w.Observe(Block));
        w.Retry();
        Assert.IsType<TakeJobPolicy>(w.Observe(Block));
    }
}
