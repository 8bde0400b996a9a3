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
        const string Loop = "i=0; while [ $i -lt 5000 ]; do echo $i > DIR/o$i; [ $i -eq 2500 ] && echo evil >> src/a.c; i=$((i+1)); done";
        var baseline = TimeLoop(Loop.Replace("DIR", "obj0", StringComparison.Ordinal).Replace("echo evil >> src/a.c", "true", StringComparison.Ordinal));
        var monitor = _h.Start();

        var written = TimeLoop(Loop.Replace("DIR", "obj", StringComparison.Ordinal));
        var sw = Stopwatch.StartNew();
        Assert.True(_h.Sync(TimeSpan.FromSeconds(60)));
        var handled = sw.Elapsed;

        var w = monitor.WatcherStats;
        var s = monitor.Stats;
        output.WriteLine(
            $"5000 files written in {written.TotalMilliseconds:0} ms with the monitor ({baseline.TotalMilliseconds:0} ms before it started), all handled {handled.TotalMilliseconds:0} ms after the writer finished; "
            + $"events read {w.EventsRead} (whole filesystem), kept {w.Kept}, handled {s.Changes}, kernel overflows {w.KernelOverflows}, dropped {w.Dropped}, "
            + $"untracked events {s.UntrackedEvents} (+{s.UntrackedSuppressed} over the cap), losses {s.Losses}");

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
        Assert.True(monitor.Stats.Losses >= 1);
        Assert.True(_h.Sink.All<FileMonitorNotice>().Count(n => n.Kind == FileMonitorNotice.EventsLost) <= 2, "loss notices are rate-limited");
        // found either from its own event or, when that was dropped, by the re-check after the last loss
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, TimeSpan.FromSeconds(30));
        Assert.NotNull(d);
        Assert.True(monitor.Stats.Rechecks > 0);
        Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        output.WriteLine($"dropped {w.Dropped}, kernel overflows {w.KernelOverflows}, loss notices {monitor.Stats.Losses}, rechecks {monitor.Stats.Rechecks}, found by {d.Evidence["how"]}");
    }

    public void Dispose() => _h.Dispose();

    private TimeSpan TimeLoop(string loop)
    {
        var dir = loop.Contains("obj0", StringComparison.Ordinal) ? "obj0" : "obj";
        Directory.CreateDirectory(_h.PathOf(dir));
        using var p = _h.StartStep("burst", loop);
        var sw = Stopwatch.StartNew();
        p.StandardInput.Close();
        Assert.True(p.WaitForExit(120_000));
        Assert.Equal(0, p.ExitCode);
        return sw.Elapsed;
    }
}
