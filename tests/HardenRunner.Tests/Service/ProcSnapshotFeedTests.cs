using System.Diagnostics;
using HardenRunner.Service;

namespace HardenRunner.Tests.Service;

/// <summary>The /proc feed with real processes: a stand-in listener (bash) starting a stand-in worker (sleep).</summary>
public sealed class ProcSnapshotFeedTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-feed-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task RealWorkerUnderRealListener_IsAJob_UntilItExits()
    {
        var listener = Path.Combine(_dir, "hr-t-listener");
        var worker = Path.Combine(_dir, "hr-t-worker");
        File.Copy("/bin/bash", listener);
        File.Copy("/bin/sleep", worker);
        var names = new JobProcessNames { WorkerNames = ["hr-t-worker"], ListenerNames = ["hr-t-listener"] };
        var tracker = new JobTracker(names);
        var feed = new ProcSnapshotFeed();
        Assert.Empty(feed.Poll(tracker)); // nothing of the kind runs yet

        // "worker 30; true": two commands, so bash forks the worker instead of exec'ing it
        using var process = HardenRunner.Tests.Monitoring.MonitorTest.Start(new ProcessStartInfo(listener, ["-c", $"{worker} 30; true"]));
        try
        {
            var transitions = await PollUntilAsync(feed, tracker, t => t is JobStarted);
            var started = Assert.IsType<JobStarted>(Assert.Single(transitions));
            Assert.NotEqual(process.Id, started.WorkerPid);
            Assert.Equal(started.WorkerPid, tracker.ActiveWorker);

            // the worker exits (the listener stays): the job ends
            using (var w = Process.GetProcessById(started.WorkerPid))
            {
                w.Kill();
                await w.WaitForExitAsync();
            }

            var ended = await PollUntilAsync(feed, tracker, t => t is JobEnded);
            Assert.Equal(new JobEnded(started.WorkerPid), Assert.Single(ended));
            Assert.Null(tracker.ActiveWorker);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>Polls (at most 200 times) until a transition matches; returns that poll's transitions.</summary>
    private static async Task<List<JobTransition>> PollUntilAsync(ProcSnapshotFeed feed, JobTracker tracker, Func<JobTransition, bool> match)
    {
        for (var i = 0; i < 200; i++)
        {
            var transitions = feed.Poll(tracker);
            if (transitions.Any(match))
            {
                return transitions;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException("no matching transition after 200 polls");
    }
}
