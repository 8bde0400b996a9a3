using HardenRunner.Service;

namespace HardenRunner.Tests.Service;

public sealed class JobTrackerTests
{
    private static readonly JobProcessNames Names = new() { WorkerNames = ["Runner.Worker"], ListenerNames = ["Runner.Listener"] };

    private static ProcessStarted Worker(int pid, ulong ticks = 100, string parent = "Runner.Listener") => new(pid, 10, ticks, "Runner.Worker", parent);

    [Fact]
    public void WorkerUnderListener_StartsAJob_AndItsExitEndsIt()
    {
        var tracker = new JobTracker(Names);
        Assert.Equal([new JobStarted(42, 100)], tracker.OnStarted(Worker(42)));
        Assert.Equal(42, tracker.ActiveWorker);
        Assert.Empty(tracker.OnExited(43));
        Assert.Equal([new JobEnded(42)], tracker.OnExited(42));
        Assert.Null(tracker.ActiveWorker);
        Assert.Equal(1, tracker.JobsStarted);
    }

    [Fact]
    public void TwoConsecutiveJobs_AreTwoJobs()
    {
        var tracker = new JobTracker(Names);
        tracker.OnStarted(Worker(42));
        tracker.OnExited(42);
        Assert.Equal([new JobStarted(77, 300)], tracker.OnStarted(Worker(77, 300)));
        Assert.Equal(2, tracker.JobsStarted);
    }

    [Fact]
    public void WorkerNotUnderListener_OrOtherProcesses_AreNotJobs()
    {
        var tracker = new JobTracker(Names);
        Assert.Empty(tracker.OnStarted(Worker(42, parent: "bash")));
        Assert.Empty(tracker.OnStarted(new ProcessStarted(43, 10, 1, "Runner.Listener", "systemd")));
        Assert.Empty(tracker.OnStarted(new ProcessStarted(44, 43, 1, "curl", "Runner.Listener")));
        Assert.Empty(tracker.OnStarted(new ProcessStarted(45, 43, 1, "Runner.Worker", null)));
        Assert.Null(tracker.ActiveWorker);
    }

    [Fact]
    public void JobProcesses_DoNotEndTheJob()
    {
        var tracker = new JobTracker(Names);
        tracker.OnStarted(Worker(42));
        Assert.Empty(tracker.OnStarted(new ProcessStarted(50, 42, 200, "bash", "Runner.Worker")));
        Assert.Empty(tracker.OnExited(50));
        Assert.Equal(42, tracker.ActiveWorker);
    }

    [Fact]
    public void SecondWorkerDuringAJob_IsReported_AndDoesNotReplaceIt()
    {
        var tracker = new JobTracker(Names);
        tracker.OnStarted(Worker(42));
        Assert.Equal([new JobOverlapIgnored(43, 42)], tracker.OnStarted(Worker(43)));
        Assert.Empty(tracker.OnExited(43));
        Assert.Equal(42, tracker.ActiveWorker);
        Assert.Equal(1, tracker.JobsStarted);
    }

    [Fact]
    public void WorkerExecingAnotherProgram_EndsTheJob()
    {
        var tracker = new JobTracker(Names);
        tracker.OnStarted(Worker(42));
        Assert.Empty(tracker.OnStarted(Worker(42))); // the same worker seen again
        Assert.Equal([new JobEnded(42)], tracker.OnStarted(new ProcessStarted(42, 10, 100, "sleep", "Runner.Listener")));
        Assert.Null(tracker.ActiveWorker);
    }

    [Fact]
    public void RecycledWorkerPid_EndsTheOldJob_AndStartsTheNewOne()
    {
        var tracker = new JobTracker(Names);
        tracker.OnStarted(Worker(42, ticks: 100));
        Assert.Equal([new JobEnded(42), new JobStarted(42, 900)], tracker.OnStarted(Worker(42, ticks: 900)));
        Assert.Equal(2, tracker.JobsStarted);
    }

    [Fact]
    public void Names_AreConfigurable()
    {
        var tracker = new JobTracker(new JobProcessNames { WorkerNames = ["fake-worker"], ListenerNames = ["fake-listener"] });
        Assert.Empty(tracker.OnStarted(Worker(42)));
        Assert.Equal([new JobStarted(7, 1)], tracker.OnStarted(new ProcessStarted(7, 6, 1, "fake-worker", "fake-listener")));
    }
}
