using HardenRunner.Events;
using HardenRunner.Monitoring.Files;

namespace HardenRunner.Tests.Monitoring.Files;

/// <summary>The monitor end to end: a real git repository under /tmp, real fanotify, real child processes as job steps.</summary>
public sealed class FileIntegrityMonitorTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly FileMonitorHarness _h = FileMonitorHarness.Create();

    private static Dictionary<string, string> Sources => new()
    {
        ["src/a.c"] = "int a;\n",
        ["src/b.c"] = "int b;\n",
        ["src/c.c"] = "int c;\n",
        ["lib/d.c"] = "int d;\n",
    };

    [SkippableFact]
    public void StepAppendingToTrackedFile_RaisesSourceOverwritten_NamingWriterExeAndStep()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        var monitor = _h.Start();
        Assert.Equal(FanotifyMarkMode.Filesystem, monitor.Mode);

        // the step stays alive until told, so its /proc entry can be compared with what the monitor recorded
        using var step = _h.StartStep("step1", "echo x >> src/a.c; read line");
        var detection = _h.Sink.WaitFor<DetectionEvent>(d => d.Type == FileIntegrityMonitor.SourceOverwritten, Wait);
        var exe = File.ResolveLinkTarget($"/proc/{step.Id}/exe", false)?.FullName;
        step.StandardInput.Close();
        step.WaitForExit(5000);

        Assert.NotNull(detection);
        Assert.Equal("high", detection.Severity);
        Assert.Equal(step.Id, detection.Process?.Pid);
        Assert.Equal(exe, detection.Process?.Exe);
        Assert.Equal("step1", detection.Step?.Action);
        Assert.Equal(_h.PathOf("src/a.c"), detection.Evidence["path"]);
        Assert.Equal(step.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), detection.Evidence["pid"]);
        Assert.Equal("step1", detection.Evidence["step"]);
        Assert.NotEqual(detection.Evidence["oldSha256"], detection.Evidence["newSha256"]);
        Assert.Contains("src/a.c", detection.Summary, StringComparison.Ordinal);

        var file = _h.Sink.WaitFor<FileEvent>(f => f.Path == _h.PathOf("src/a.c"), Wait);
        Assert.NotNull(file);
        Assert.Equal(FileEvent.Modify, file.Operation);
        Assert.True(file.Tracked);
        Assert.Equal(step.Id, file.Process?.Pid);
        Assert.Equal("step1", file.Step?.Action);
    }

    [SkippableFact]
    public void IdenticalRewrites_ByTruncateAndByRenameOver_AreNotOverwrites()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        var monitor = _h.Start();

        Assert.Equal(0, _h.RunStep("rewrite", "cat src/a.c > /tmp/$$.c && cat /tmp/$$.c > src/a.c && rm /tmp/$$.c; cp src/b.c src/.b.tmp && mv src/.b.tmp src/b.c"));
        Assert.True(_h.Sync());

        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        Assert.True(monitor.Stats.IdenticalRewrites >= 1);
        Assert.DoesNotContain(_h.Sink.All<FileEvent>(), f => f.Path == _h.PathOf("src/a.c"));
        // a rename over a source file is recorded even when the content is the same
        Assert.Contains(_h.Sink.All<FileEvent>(), f => f.Path == _h.PathOf("src/b.c") && f.Operation == FileEvent.Rename && f.Tracked);
    }

    [SkippableFact]
    public void BuildOutput_IgnoredAndNewUntrackedFiles_NoDetection_RecordedAsUntracked()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        _h.Start();

        Assert.Equal(0, _h.RunStep(
            "build",
            "mkdir -p bin/Debug obj && echo dll > bin/Debug/app.dll && echo o > obj/a.o && echo log > build.log && echo gen > src/generated.c && echo again >> obj/a.o"));
        Assert.True(_h.Sync());

        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        var files = _h.Sink.All<FileEvent>();
        Assert.DoesNotContain(files, f => f.Tracked);
        var created = files.Where(f => f.Operation == FileEvent.Create).Select(f => f.Path).ToHashSet();
        Assert.Contains(_h.PathOf("bin/Debug/app.dll"), created);
        Assert.Contains(_h.PathOf("build.log"), created);
        Assert.Contains(_h.PathOf("src/generated.c"), created);
        Assert.All(files.Where(f => f.Path == _h.PathOf("obj/a.o")), f => Assert.Equal("build", f.Step?.Action));
    }

    [SkippableFact]
    public void DeleteRenameAndRecreate_OfTrackedFiles_RecordedWithTheirOperation()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        _h.Start();

        Assert.Equal(0, _h.RunStep("ops", "rm src/b.c && mv src/c.c src/c2.c && echo 'int evil;' > src/b.c"));
        Assert.True(_h.Sync());

        var tracked = _h.Sink.All<FileEvent>().Where(f => f.Tracked).ToList();
        Assert.Contains(tracked, f => f.Path == _h.PathOf("src/b.c") && f.Operation == FileEvent.Delete);
        Assert.Contains(tracked, f => f.Path == _h.PathOf("src/c.c") && f.Operation == FileEvent.Rename);
        Assert.Contains(tracked, f => f.Path == _h.PathOf("src/b.c") && f.Operation == FileEvent.Create && f.Step?.Action == "ops"); // the shell's own echo
        Assert.Contains(tracked, f => f.Path == _h.PathOf("src/b.c") && f.Operation == FileEvent.Modify && f.Step?.Action == "ops");
        Assert.All(tracked, f => Assert.True(f.Process?.Pid > 0)); // rm and mv exited at once: pid only, without the process monitor

        // deleting and writing back different content is an overwrite; moving a file away alone is not
        var d = Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        Assert.Equal(_h.PathOf("src/b.c"), d.Evidence["path"]);
    }

    [SkippableFact]
    public void SedInPlace_RenameOverTrackedFile_RaisesSourceOverwritten()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        _h.Start();

        Assert.Equal(0, _h.RunStep("patch", "sed -i 's/int c/int evil_c/' src/c.c"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, Wait);

        Assert.NotNull(d);
        Assert.Equal(_h.PathOf("src/c.c"), d.Evidence["path"]);
        Assert.Equal("rename-over", d.Evidence["how"]);
        Assert.True(d.Process?.Pid > 0);
        if (d.Process?.Exe is { } exe)
        {
            // named when the reader thread caught sed alive (usually); the process monitor's attributor always can
            Assert.EndsWith("/sed", exe, StringComparison.Ordinal);
            Assert.Equal("patch", d.Step?.Action);
        }
    }

    [SkippableFact]
    public void TruncateByPath_WithoutAnyCloseWrite_ComparedAfterTheDelay()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        Skip.IfNot(File.Exists("/usr/bin/python3"), "needs /usr/bin/python3 for truncate(2)");
        _h.WithGitRepo(Sources);
        var monitor = _h.Start();

        // truncate(2) on a path opens nothing: the kernel reports FAN_MODIFY and no close-write ever follows
        Assert.Equal(0, _h.RunStep("trunc", "/usr/bin/python3 -c \"import os; os.truncate('src/c.c', 3)\""));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, Wait);

        Assert.NotNull(d);
        Assert.Equal(_h.PathOf("src/c.c"), d.Evidence["path"]);
        Assert.Equal("write-without-close", d.Evidence["how"]);
        Assert.True(d.Process?.Pid > 0);
    }

    [SkippableFact]
    public void MovingADirectoryOfSourcesAwayAndAnotherInItsPlace_Recorded_AndChangedFilesDetected()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        _h.Start();

        Assert.Equal(0, _h.RunStep("swap", "mkdir ../evil && echo 'int d;' > ../evil/d.c && mv lib ../lib.orig && mv ../evil lib"));
        Assert.True(_h.Sync());
        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten)); // same content moved in

        Assert.Equal(0, _h.RunStep("swap2", "mkdir ../evil2 && echo 'int evil;' > ../evil2/d.c && mv lib ../lib.2 && mv ../evil2 lib"));
        Assert.True(_h.Sync());

        Assert.Contains(_h.Sink.All<FileEvent>(), f => f.Path == _h.PathOf("lib") && f.Operation == FileEvent.Rename && f.Tracked);
        var d = Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        Assert.Equal(_h.PathOf("lib/d.c"), d.Evidence["path"]);
        // handles resolve to the path a directory has when the event is read: the shell's write into ../evil2/d.c may
        // already read as lib/d.c (close-write, by the shell), else the move finds it (directory-rename, by mv)
        Assert.Contains(d.Evidence["how"], (string[])["directory-rename", "close-write"]);
        Assert.True(d.Process?.Pid > 0);
    }

    [SkippableFact]
    public void WithoutGit_FilesPresentAtStartAreSource_NewFilesAreNot()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithFiles(new Dictionary<string, string> { ["main.py"] = "print(1)\n", ["pkg/util.py"] = "x = 1\n" });
        var monitor = _h.Start();
        Assert.Equal(SourceInventory.FilesAtStartMethod, monitor.Inventory.Method);

        Assert.Equal(0, _h.RunStep("nogit", "echo out > out.txt && echo 'x = 2' > pkg/util.py"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, Wait);
        Assert.True(_h.Sync());

        Assert.NotNull(d);
        Assert.Equal(_h.PathOf("pkg/util.py"), d.Evidence["path"]);
        Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
    }

    [SkippableFact]
    public void CheckoutAfterStart_InventoryRefreshedFromTheGitIndex_ThenOverwriteDetected()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        var monitor = _h.Start();
        Assert.Equal(0, monitor.Inventory.Count);

        // what actions/checkout does, as a step: init, write files, write the index
        Assert.Equal(0, _h.RunStep(
            "checkout",
            "git init -q && mkdir src && echo 'int a;' > src/a.c && git add -A && git -c user.name=t -c user.email=t@example.invalid commit -q -m c"));
        Assert.True(FileMonitorHarnessWait.Until(() => monitor.Stats.Refreshes > 0 && monitor.Inventory.Count == 1, Wait));
        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));

        Assert.Equal(0, _h.RunStep("evil", "echo 'int evil;' > src/a.c"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, Wait);
        Assert.NotNull(d);
        Assert.Equal("evil", d.Step?.Action);
        Assert.Equal(SourceInventory.GitMethod, d.Evidence["inventory"]);
    }

    [SkippableFact]
    public void WorkspaceBelowTheRepositoryRoot_SourceIsTheTrackedFilesBelowIt_AndTheRepositoryIndexIsWatched()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(new Dictionary<string, string> { ["app/x.c"] = "int x;\n", ["other/y.c"] = "int y;\n" });
        var monitor = _h.Start(o => new FileIntegrityMonitorOptions { Workspace = _h.PathOf("app"), Attribute = o.Attribute, Observer = o.Observer });
        Assert.Equal(["x.c"], monitor.Inventory.Files.Select(f => f.RelativePath).ToArray());

        Assert.Equal(0, _h.RunStep("add", "echo 'int n;' > app/n.c && git add app/n.c"));
        Assert.True(FileMonitorHarnessWait.Until(() => monitor.Stats.Refreshes > 0 && monitor.Inventory.Count == 2, Wait));

        Assert.Equal(0, _h.RunStep("sub", "echo evil >> app/n.c && echo evil >> other/y.c"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, Wait);
        Assert.NotNull(d);
        Assert.Equal(_h.PathOf("app/n.c"), d.Evidence["path"]);
        Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten)); // other/ is outside the workspace
    }

    [SkippableFact]
    public void OwnWrites_ToTrackedFiles_AreIgnored_AndBecomeTheNewBaseline()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        var monitor = _h.Start();

        File.AppendAllText(_h.PathOf("src/a.c"), "// by the appliance\n");
        Assert.True(_h.Sync());
        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        Assert.DoesNotContain(_h.Sink.All<FileEvent>(), f => f.Tracked);
        Assert.True(monitor.Stats.OwnWrites >= 1);

        // a step writing back exactly what the appliance left changes nothing
        Assert.Equal(0, _h.RunStep("same", "cat src/a.c > /tmp/$$.c && cat /tmp/$$.c > src/a.c && rm /tmp/$$.c"));
        Assert.True(_h.Sync());
        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
    }

    [SkippableTheory]
    [InlineData(FanotifyMarkMode.MountFid)]
    [InlineData(FanotifyMarkMode.MountFd)]
    public void MountMarkFallbacks_StillDetectInPlaceOverwrite(FanotifyMarkMode mode)
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.WithGitRepo(Sources);
        var monitor = _h.Start(o => new FileIntegrityMonitorOptions
        {
            Workspace = o.Workspace,
            Attribute = o.Attribute,
            Observer = o.Observer,
            Watcher = new FanotifyWatcherOptions { Mode = mode },
        });
        Assert.Equal(mode, monitor.Mode);

        Assert.Equal(0, _h.RunStep("mnt", "echo y >> lib/d.c && echo same > obj.txt"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == FileIntegrityMonitor.SourceOverwritten, Wait);

        Assert.NotNull(d);
        Assert.Equal(_h.PathOf("lib/d.c"), d.Evidence["path"]);
        Assert.Equal("mnt", d.Step?.Action);
        Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
    }

    [SkippableFact]
    public void WriteThroughALiveMapping_IsInvisibleUntilUnmapped_RecheckFindsIt()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        Skip.IfNot(File.Exists("/usr/bin/python3"), "needs /usr/bin/python3 for the mmap writer");
        _h.WithGitRepo(Sources);
        var monitor = _h.Start();
        var script = Path.Combine(_h.Root, "map.py");
        var marker = Path.Combine(_h.Root, "mapped");
        File.WriteAllText(script, """
            import mmap, os, sys
            fd = os.open('src/a.c', os.O_RDWR)
            m = mmap.mmap(fd, 0)
            os.close(fd)
            m[0:3] = b'XYZ'
            m.flush()
            open(sys.argv[1], 'w').close()
            sys.stdin.readline()
            m.close()
            """);

        using var step = _h.StartStep("mapper", $"/usr/bin/python3 {script} {marker}");
        Assert.True(FileMonitorHarnessWait.Until(() => File.Exists(marker), Wait));
        Assert.True(_h.Sync());
        // fanotify has no event for a store through a mapping; the close-write comes when the mapping goes
        Assert.Empty(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));

        Assert.Equal(1, monitor.Recheck(Wait));
        var d = Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten));
        Assert.Equal("unknown", d.Evidence["writer"]);
        Assert.StartsWith("recheck", d.Evidence["how"], StringComparison.Ordinal);

        step.StandardInput.Close();
        Assert.True(step.WaitForExit(10_000));
        Assert.True(_h.Sync());
        Assert.Single(_h.Sink.Detections(FileIntegrityMonitor.SourceOverwritten)); // the late close-write sees known content
    }

    public void Dispose() => _h.Dispose();
}

internal static class FileMonitorHarnessWait
{
    public static bool Until(Func<bool> condition, TimeSpan timeout)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(20);
        }

        return condition();
    }
}
