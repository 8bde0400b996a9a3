using System.Diagnostics;
using HardenRunner.Events;
using HardenRunner.Monitoring.Files;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Monitoring.Files;

/// <summary>Bursts: nothing is lost silently.</summary>
public sealed class FileMonitorLoadTests(ITestOutputHelper output) : IDisposable
{
    private readonly FileMonitorHarness _h = FileMonitorHarness.Create();

    [SkippableFact]
    public void Burst_5000Writes_AllHandledOrTheLossReported_AndTheSourceOverwriteInTheMiddleFound()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(new Dictionary<string, string> { ["src/a.c"] = "int a;\n" });
        var monitor = _h.Start();

        var sw = Stopwatch.StartNew();
        Assert.Equal(0, _h.RunStep(
            "burst",
            "mkdir -p obj && i=0; while [ $i -lt 5000 ]; do echo $i > obj/o$i; [ $i -eq 2500 ] && echo evil >> src/a.c; i=$((i+1)); done"));
        var written = sw.Elapsed;
        Assert.True(_h.Sync(TimeSpan.FromSeconds(60)));
        var handled = sw.Elapsed;

        var w = monitor.WatcherStats;
        var s = monitor.Stats;
        output.WriteLine(
            $"5000 files written in {written.TotalMilliseconds:0} ms, all handled after {handled.TotalMilliseconds:0} ms; "
            + $"events read {w.EventsRead} (whole filesystem), kept {w.Kept}, handled {s.Changes}, kernel overflows {w.KernelOverflows}, dropped {w.Dropped}, "
            + $"untracked events {s.UntrackedEvents} (+{s.UntrackedSuppressed} over the cap), loss notices {s.LossNotices}");

        var lost = w.KernelOverflows + w.Dropped > 0;
        if (lost)
        {
            Assert.Contains(_h.Sink.All<FileMonitorNotice>(), n => n.Kind == FileMonitorNotice.EventsLost);
            Assert.True(monitor.Recheck(TimeSpan.FromSeconds(30)) >= 0);
        }
        else
        {
            // every file: create + modify + close-write of one process merge into at least one kept change each
            Assert.True(s.Changes >= 5000, $"handled {s.Changes}");
            Assert.Equal(1000, s.UntrackedEvents);
            Assert.True(s.UntrackedSuppressed > 0);
            Assert.Single(_h.Sink.All<FileMonitorNotice>(), n => n.Kind == FileMonitorNotice.UntrackedCapped);
        }

        var d = Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        Assert.Equal(_h.PathOf("src/a.c"), d.Evidence["path"]);
    }

    [SkippableFact]
    public void FullMonitorQueue_LossReportedAsNotice_RecheckStillFindsTheOverwrite()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(new Dictionary<string, string> { ["src/a.c"] = "int a;\n" });
        var slow = 0;
        var monitor = _h.Start(o => new FileIntegrityMonitorOptions
        {
            Workspace = o.Workspace,
            Attribute = o.Attribute,
            Observer = c =>
            {
                o.Observer!(c);
                if (Interlocked.Increment(ref slow) < 200)
                {
                    Thread.Sleep(5); // a slow consumer for the first changes
                }
            },
            Watcher = new FanotifyWatcherOptions { QueueCapacity = 16 },
            RecheckDelay = TimeSpan.FromMilliseconds(100),
        });

        Assert.Equal(0, _h.RunStep(
            "burst",
            "mkdir -p obj && i=0; while [ $i -lt 2000 ]; do echo $i > obj/o$i; [ $i -eq 1000 ] && echo evil >> src/a.c; i=$((i+1)); done"));
        var notice = _h.Sink.WaitFor<FileMonitorNotice>(n => n.Kind == FileMonitorNotice.EventsLost, TimeSpan.FromSeconds(30));

        Assert.NotNull(notice);
        var w = monitor.WatcherStats;
        Assert.True(w.Dropped + w.KernelOverflows > 0, $"dropped {w.Dropped}, kernel overflows {w.KernelOverflows}");
        Assert.True(monitor.Stats.LossNotices >= 1);
        // found either from its own event or, when that was dropped, by the re-check after the last loss
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, TimeSpan.FromSeconds(30));
        Assert.NotNull(d);
        Assert.True(monitor.Stats.Rechecks > 0);
        Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        output.WriteLine($"dropped {w.Dropped}, kernel overflows {w.KernelOverflows}, loss notices {monitor.Stats.LossNotices}, rechecks {monitor.Stats.Rechecks}, found by {d.Evidence["how"]}");
    }

    public void Dispose() => _h.Dispose();
}
