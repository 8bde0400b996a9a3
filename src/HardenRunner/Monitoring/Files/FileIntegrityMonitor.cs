using System.Diagnostics;
using System.Globalization;
using HardenRunner.Events;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// The file integrity monitor (DESIGN §2 Monitors, §5 files and detections). Knows the workspace's source files
/// (<see cref="SourceInventory"/>) and the appliance's control files (<see cref="ControlPath"/>), consumes the
/// changes of a <see cref="FanotifyWatcher"/> and publishes:
/// <list type="bullet">
/// <item><see cref="FileEvent"/>s for source files whose content, existence or name changed (tracked = true) and a
/// bounded sample of untracked writes (tracked = false, one per path and operation);</item>
/// <item><c>source-overwritten</c> (high) when a process leaves a source file with content that differs from the
/// content last seen — decided by SHA-256 at close-write, rename-over or re-creation, so an identical rewrite is not
/// one — naming the writer's pid, exe, command line and step;</item>
/// <item>the control path's detection (<c>resolver-tampered</c>, <c>trust-store-tampered</c>, …) when any process but
/// the appliance changes, creates, removes or renames a control file;</item>
/// <item><see cref="FileMonitorNotice"/>s when events were lost (then every source and control file is re-checked),
/// a cap was reached, or the watcher runs in a reduced mode.</item>
/// </list>
/// </summary>
/// <remarks>
/// One consumer thread owns all state (inventory, control fingerprints, caps); the watcher has its own reader thread.
/// When the git index is rewritten (a checkout or pull by a step) the inventory is listed again after a quiet period,
/// so a workspace checked out after the appliance started gets its source files. Call <see cref="Recheck"/> at the
/// end of the job to catch what fanotify cannot see (writes through mmap, writes through a hard link outside the
/// workspace), then <see cref="Dispose"/>.
/// </remarks>
public sealed class FileIntegrityMonitor : IDisposable
{
    public const string SourceOverwritten = "source-overwritten";

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan LossNoticeInterval = TimeSpan.FromSeconds(5);

    private readonly IEventSink _sink;
    private readonly FileIntegrityMonitorOptions _options;
    private readonly ILogger? _logger;
    private readonly FanotifyWatcher _watcher;
    private readonly SourceInventory _inventory;
    private readonly ControlFileSet _controls;
    private readonly Func<int, (ProcessInfo? Process, StepInfo? Step)> _attribute;
    private readonly Func<int, bool> _isOwn;
    private readonly string _gitIndex;
    private readonly Dictionary<string, Writer> _pendingWriters = new(StringComparer.Ordinal);
    private long _nextPendingSweep;
    private readonly HashSet<string> _detectionKeys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _untrackedSeen = new(StringComparer.Ordinal);
    private readonly Lock _recheckGate = new();
    private readonly Thread _consumer;
    private readonly List<TaskCompletionSource<int>> _recheckRequests = [];
    private long _refreshAt = long.MaxValue;
    private long _recheckAt = long.MaxValue;
    private long _lastLossNotice;
    private long _lossesSinceNotice;
    private bool _detectionsCapNoticed;
    private bool _untrackedCapNoticed;
    private volatile bool _stopping;

    private FileIntegrityMonitor(
        IEventSink sink, FileIntegrityMonitorOptions options, ILogger? logger, FanotifyWatcher watcher, SourceInventory inventory, ControlFileSet controls, string gitDir)
    {
        _sink = sink;
        _options = options;
        _logger = logger;
        _watcher = watcher;
        _inventory = inventory;
        _controls = controls;
        _attribute = options.Attribute ?? ProcWriterAttribution.Attribute;
        var self = Environment.ProcessId;
        _isOwn = options.IsOwnWriter ?? (pid => pid == self);
        _gitIndex = Path.Combine(gitDir, "index");
        _consumer = new Thread(Consume) { IsBackground = true, Name = "hr-file-integrity" };
    }

    public SourceInventory Inventory => _inventory;

    public FileMonitorStats Stats { get; } = new();

    public FanotifyWatcherStats WatcherStats => _watcher.Stats;

    /// <summary>How the kernel is asked for events (<see cref="FanotifyMarkMode.Filesystem"/> unless something refused it).</summary>
    public FanotifyMarkMode Mode => _watcher.Mode;

    public IReadOnlyList<string> Degradations => _watcher.Degradations;

    /// <summary>Time <see cref="Start"/> spent on the inventory (listing plus hashing).</summary>
    public TimeSpan InventoryElapsed { get; private set; }

    /// <summary>
    /// Starts watching (the watcher first, so nothing after this call returns is missed), takes the inventory and the
    /// control fingerprints, then starts consuming. Needs root.
    /// </summary>
    /// <exception cref="IOException">fanotify is unavailable.</exception>
    /// <exception cref="DirectoryNotFoundException">the workspace does not exist.</exception>
    public static FileIntegrityMonitor Start(IEventSink sink, FileIntegrityMonitorOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        var workspace = FanotifyInterop.Canonical(options.Workspace) ?? throw new DirectoryNotFoundException($"workspace {options.Workspace} does not exist");
        var controls = new ControlFileSet(options.ControlPaths, options.MaxHashedFileBytes);
        var gitDir = GitDirectoryGuess(workspace);
        var scope = new WatchScope(
            [workspace, .. controls.WatchedDirectories],
            [.. controls.WatchedFiles, Path.Combine(gitDir, "index")]);
        var watcher = FanotifyWatcher.Start(scope, options.Watcher.WithAttribute(options.Attribute ?? ProcWriterAttribution.Attribute), logger);
        try
        {
            var clock = Stopwatch.StartNew();
            var inventory = SourceInventory.Build(workspace, options.MaxHashedFileBytes);
            var monitor = new FileIntegrityMonitor(sink, options, logger, watcher, inventory, controls, gitDir) { InventoryElapsed = clock.Elapsed };
            logger?.LogInformation(
                "File monitor: {Count} source files in {Workspace} ({Method}{Reason}) in {Ms:0} ms; {Mode} marks",
                inventory.Count, workspace, inventory.Method, inventory.MethodReason is null ? "" : ": " + inventory.MethodReason,
                clock.Elapsed.TotalMilliseconds, watcher.Mode);
            foreach (var d in watcher.Degradations)
            {
                monitor.Notice(FileMonitorNotice.Degraded, d, new Dictionary<string, string> { ["mode"] = watcher.Mode.ToString() });
            }

            monitor._consumer.Start();
            return monitor;
        }
        catch
        {
            watcher.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Re-checks every source and control file against what was last seen (after the changes already queued), raising
    /// detections without a known writer for differences. Call at the end of the job. Returns the number of
    /// differences, or -1 when the monitor stopped or <paramref name="timeout"/> passed.
    /// </summary>
    public int Recheck(TimeSpan timeout)
    {
        var request = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_recheckGate)
        {
            _recheckRequests.Add(request);
        }

        return request.Task.Wait(timeout) ? request.Task.Result : -1;
    }

    public void Dispose()
    {
        _stopping = true;
        _watcher.Dispose();
        if (_consumer.IsAlive && Thread.CurrentThread != _consumer)
        {
            _consumer.Join();
        }

        lock (_recheckGate)
        {
            foreach (var r in _recheckRequests)
            {
                r.TrySetResult(-1);
            }

            _recheckRequests.Clear();
        }
    }

    /// <summary>
    /// The git directory whose index says what is source: .git in the workspace or its nearest ancestor (a directory,
    /// or a "gitdir:" file for worktrees and submodules); the workspace's own .git when there is none yet (a checkout
    /// after start creates it).
    /// </summary>
    private static string GitDirectoryGuess(string workspace)
    {
        for (var dir = workspace; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            var dotGit = Path.Combine(dir, ".git");
            if (Directory.Exists(dotGit))
            {
                return FanotifyInterop.Canonical(dotGit) ?? dotGit;
            }

            if (File.Exists(dotGit))
            {
                try
                {
                    var line = File.ReadLines(dotGit).FirstOrDefault() ?? "";
                    if (line.StartsWith("gitdir:", StringComparison.Ordinal))
                    {
                        var target = Path.GetFullPath(line[7..].Trim(), dir);
                        return FanotifyInterop.Canonical(target) ?? target;
                    }
                }
                catch (IOException)
                {
                }
            }
        }

        return Path.Combine(workspace, ".git");
    }

    private void Consume()
    {
        while (!_stopping)
        {
            try
            {
                if (_watcher.TryTake(out var change, Poll))
                {
                    Handle(change);
                    Stats.Change();
                    _options.Observer?.Invoke(change);
                }

                RunDueWork();
            }
            catch (Exception e)
            {
                // one bad change (or a throwing sink or attributor) must not end the monitor for the rest of the job
                _logger?.LogError(e, "File monitor: a change could not be handled");
            }
        }
    }

    private void RunDueWork()
    {
        var now = Stopwatch.GetTimestamp();
        var quiet = _watcher.Pending == 0;
        if (_pendingWriters.Count > 0 && now >= _nextPendingSweep)
        {
            _nextPendingSweep = now + (Stopwatch.Frequency / 2);
            SweepUnclosedWrites(now);
        }

        if (now >= _refreshAt && quiet)
        {
            _refreshAt = long.MaxValue;
            var (added, removed) = _inventory.Refresh();
            Stats.Refresh();
            _logger?.LogInformation(
                "File monitor: git index changed; inventory now {Count} source files ({Added} added, {Removed} removed, {Method})",
                _inventory.Count, added, removed, _inventory.Method);
        }

        List<TaskCompletionSource<int>>? requests = null;
        lock (_recheckGate)
        {
            if (_recheckRequests.Count > 0 && quiet)
            {
                requests = [.. _recheckRequests];
                _recheckRequests.Clear();
            }
        }

        if (requests is not null || (now >= _recheckAt && quiet))
        {
            _recheckAt = long.MaxValue;
            var differences = RecheckAll(requests is null ? "events were lost" : "re-check requested");
            foreach (var r in requests ?? [])
            {
                r.TrySetResult(differences);
            }
        }
    }

    /// <summary>
    /// Writes with no close-write after <see cref="FileIntegrityMonitorOptions.UnclosedWriteCheckDelay"/>: truncate(2) by
    /// path, a writer that keeps the file open. Compared now, naming the writer seen, so they do not wait for the end.
    /// </summary>
    private void SweepUnclosedWrites(long now)
    {
        var due = Stopwatch.Frequency * _options.UnclosedWriteCheckDelay.TotalSeconds;
        foreach (var (path, writer) in _pendingWriters.Where(p => now - p.Value.Since >= due).ToList())
        {
            if (_inventory.TryGet(path, out var source))
            {
                _pendingWriters.Remove(path);
                Compare(source, null, writer, DateTimeOffset.UtcNow, "write-without-close");
            }
            else if (_controls.Match(path) is { } control)
            {
                // handled as a close of the file by the writer seen
                HandleControl(new FileChange(DateTimeOffset.UtcNow, FileChangeKind.CloseWrite, path, writer.Pid, false) { Process = writer.Process, Step = writer.Step, Attributed = true }, control);
            }
            else
            {
                _pendingWriters.Remove(path);
            }
        }
    }

    private void Handle(FileChange change)
    {
        if (change.Has(FileChangeKind.Overflow))
        {
            Stats.Loss();
            _lossesSinceNotice++;
            var now = Stopwatch.GetTimestamp();
            if (_lastLossNotice == 0 || Stopwatch.GetElapsedTime(_lastLossNotice, now) >= LossNoticeInterval)
            {
                Notice(
                    FileMonitorNotice.EventsLost,
                    "file events were lost (fanotify queue overflow or full monitor queue); every source and control file will be re-checked",
                    new Dictionary<string, string>
                    {
                        ["losses"] = _lossesSinceNotice.ToString(CultureInfo.InvariantCulture),
                        ["kernelOverflows"] = _watcher.Stats.KernelOverflows.ToString(CultureInfo.InvariantCulture),
                        ["dropped"] = _watcher.Stats.Dropped.ToString(CultureInfo.InvariantCulture),
                    });
                _lastLossNotice = now;
                _lossesSinceNotice = 0;
            }

            _recheckAt = now + (long)(_options.RecheckDelay.TotalSeconds * Stopwatch.Frequency);
            return;
        }

        var path = change.Path;
        if (string.Equals(path, _gitIndex, StringComparison.Ordinal) && change.Has(FileChangeKind.CloseWrite | FileChangeKind.MovedTo))
        {
            _refreshAt = Stopwatch.GetTimestamp() + (long)(_options.InventoryRefreshDelay.TotalSeconds * Stopwatch.Frequency);
        }

        if (_controls.Match(path) is { } control)
        {
            HandleControl(change, control);
            return;
        }

        if (change.IsDirectory)
        {
            HandleDirectory(change);
            return;
        }

        if (!WatchScope.IsUnder(path, _inventory.Workspace) || InGitDirectory(path))
        {
            return;
        }

        if (_inventory.TryGet(path, out var source))
        {
            HandleSource(change, source);
        }
        else
        {
            HandleUntracked(change);
        }
    }

    private bool InGitDirectory(string path) =>
        WatchScope.IsUnder(path, _inventory.Workspace + "/.git")
        || (_inventory.GitDirectory is { } g && WatchScope.IsUnder(path, g));

    private void HandleSource(FileChange change, SourceFile source)
    {
        if (_isOwn(change.Pid))
        {
            Stats.Own();
            var own = FileFingerprint.Compute(source.Path, _options.MaxHashedFileBytes);
            source.Latest = own;
            source.LastContent = own ?? source.LastContent;
            return;
        }

        if (change.Has(FileChangeKind.Delete | FileChangeKind.MovedFrom))
        {
            // the event says the name went away; the path may already hold something new, which its own events report
            if (source.Latest is not null)
            {
                source.Latest = null;
                Stats.TrackedChange();
                PublishFile(change.Time, source.Path, change.Has(FileChangeKind.MovedFrom) ? FileEvent.Rename : FileEvent.Delete, tracked: true, Describe(change));
            }
        }

        if (change.Has(FileChangeKind.Create) && !change.Has(FileChangeKind.MovedTo) && source.Latest is null)
        {
            source.Latest = FileFingerprint.Pending; // present, content not yet known: the close-write decides
            Stats.TrackedChange();
            PublishFile(change.Time, source.Path, FileEvent.Create, tracked: true, Describe(change));
        }

        if (change.Has(FileChangeKind.CloseWrite | FileChangeKind.MovedTo))
        {
            var writer = TakeWriter(source.Path, change);
            Compare(source, change.Has(FileChangeKind.MovedTo) ? FileEvent.Rename : null, writer, change.Time, change.Has(FileChangeKind.MovedTo) ? "rename-over" : "close-write");
        }
        else if (change.Has(FileChangeKind.Modify | FileChangeKind.Create))
        {
            RememberWriter(source.Path, change); // a write in progress: keep who it is for the close-write
        }
    }

    /// <summary>
    /// Fingerprints a source file now and publishes what changed since it was last seen. A content that differs from
    /// the last content seen is an overwrite (detection); a path that holds nothing now is a delete. Returns true
    /// when anything differed.
    /// </summary>
    private bool Compare(SourceFile source, string? operation, Writer? writer, DateTimeOffset time, string how)
    {
        var now = FileFingerprint.Compute(source.Path, _options.MaxHashedFileBytes);
        var wasPresent = source.Latest is not null;
        var previousContent = source.LastContent;
        if (now is null)
        {
            // gone already: the delete or rename event that follows reports it (a re-check reports it here)
            if (writer is null && wasPresent)
            {
                source.Latest = null;
                Stats.TrackedChange();
                PublishFile(time, source.Path, FileEvent.Delete, tracked: true, null);
                return true;
            }

            return false;
        }

        var contentChanged = !string.Equals(now, previousContent, StringComparison.Ordinal);
        source.Latest = now;
        source.LastContent = now;
        if (!contentChanged && wasPresent && operation is null)
        {
            Stats.Identical();
            return false;
        }

        Stats.TrackedChange();
        PublishFile(time, source.Path, operation ?? (wasPresent ? FileEvent.Modify : FileEvent.Create), tracked: true, writer);
        if (contentChanged && previousContent is not null)
        {
            PublishSourceOverwritten(time, source, previousContent, now, writer, how);
        }

        return contentChanged || !wasPresent;
    }

    private void HandleDirectory(FileChange change)
    {
        // a new directory is empty: its files bring their own events. Moves and deletes bring or take files silently.
        if (!change.Has(FileChangeKind.MovedFrom | FileChangeKind.MovedTo | FileChangeKind.Delete))
        {
            return;
        }

        var path = change.Path;
        foreach (var controlFile in _controls.Below(path))
        {
            if (_controls.Match(controlFile) is { } control)
            {
                HandleControl(change with { Path = controlFile, IsDirectory = false }, control);
            }
        }

        if (!WatchScope.IsUnder(path, _inventory.Workspace) || InGitDirectory(path))
        {
            return;
        }

        var below = _inventory.Under(path).ToList();
        if (below.Count == 0)
        {
            return;
        }

        if (_isOwn(change.Pid))
        {
            Stats.Own();
            foreach (var s in below)
            {
                s.Latest = FileFingerprint.Compute(s.Path, _options.MaxHashedFileBytes);
                s.LastContent = s.Latest ?? s.LastContent;
            }

            return;
        }

        // a directory holding source files was moved away, deleted, or something was moved into its place: the move
        // itself is recorded, and every source file below is compared (content moved in counts as an overwrite)
        var writer = Describe(change);
        Stats.TrackedChange();
        PublishFile(change.Time, path, change.Has(FileChangeKind.Delete) ? FileEvent.Delete : FileEvent.Rename, tracked: true, writer);
        foreach (var s in below)
        {
            var now = FileFingerprint.Compute(s.Path, _options.MaxHashedFileBytes);
            if (now is null)
            {
                s.Latest = null;
                continue;
            }

            var previous = s.LastContent;
            var changed = !string.Equals(now, previous, StringComparison.Ordinal);
            s.Latest = now;
            s.LastContent = now;
            if (changed && previous is not null)
            {
                Stats.TrackedChange();
                PublishFile(change.Time, s.Path, FileEvent.Rename, tracked: true, writer);
                PublishSourceOverwritten(change.Time, s, previous, now, writer, "directory-rename");
            }
        }
    }

    private void HandleUntracked(FileChange change)
    {
        var operation = change.Has(FileChangeKind.MovedFrom | FileChangeKind.MovedTo) ? FileEvent.Rename
            : change.Has(FileChangeKind.Delete) ? FileEvent.Delete
            : change.Has(FileChangeKind.Create) ? FileEvent.Create
            : change.Has(FileChangeKind.CloseWrite) ? FileEvent.Modify
            : null;
        if (operation is null || _options.UntrackedEventLimit <= 0 || _isOwn(change.Pid))
        {
            return;
        }

        var key = operation + "\0" + change.Path;
        if (_untrackedSeen.Contains(key))
        {
            return;
        }

        if (_untrackedSeen.Count >= _options.UntrackedEventLimit)
        {
            Stats.UntrackedDropped();
            if (!_untrackedCapNoticed)
            {
                _untrackedCapNoticed = true;
                Notice(
                    FileMonitorNotice.UntrackedCapped,
                    $"more than {_options.UntrackedEventLimit} untracked file events; further untracked writes are counted, not recorded",
                    new Dictionary<string, string> { ["limit"] = _options.UntrackedEventLimit.ToString(CultureInfo.InvariantCulture) });
            }

            return;
        }

        _untrackedSeen.Add(key);
        Stats.Untracked();
        PublishFile(change.Time, change.Path, operation, tracked: false, Describe(change));
    }

    private void HandleControl(FileChange change, ControlPath control)
    {
        var path = change.Path;
        if (!_isOwn(change.Pid) && !change.Has(FileChangeKind.CloseWrite | FileChangeKind.MovedTo | FileChangeKind.MovedFrom | FileChangeKind.Delete))
        {
            RememberWriter(path, change); // a write or creation in progress: the close-write (or the sweep) decides
            return;
        }

        var (old, now) = _controls.Update(path);
        if (_isOwn(change.Pid))
        {
            Stats.Own();
            _pendingWriters.Remove(path);
            return;
        }

        var writer = TakeWriter(path, change);
        if (string.Equals(old, now, StringComparison.Ordinal))
        {
            Stats.Identical();
            return;
        }

        var what = old is null ? "created" : now is null ? (change.Has(FileChangeKind.MovedFrom) ? "moved away" : "deleted")
            : change.Has(FileChangeKind.MovedTo) ? "replaced" : "modified";
        var operation = change.Has(FileChangeKind.MovedFrom | FileChangeKind.MovedTo) ? FileEvent.Rename
            : old is null ? FileEvent.Create : now is null ? FileEvent.Delete : FileEvent.Modify;
        PublishFile(change.Time, path, operation, tracked: false, writer);
        if (!_controls.TakeDetection(path, _options.MaxControlDetectionsPerPath))
        {
            return;
        }

        Stats.ControlDetection();
        var evidence = Evidence(path, writer);
        evidence["control"] = control.What;
        evidence["change"] = what;
        evidence["oldSha256"] = FileFingerprint.Short(old);
        evidence["newSha256"] = FileFingerprint.Short(now);
        _sink.Publish(new DetectionEvent(
            change.Time,
            control.DetectionType,
            control.Severity,
            $"{control.What} {path} {what} by {WriterText(writer)}",
            evidence)
        {
            Process = writer?.Process,
            Step = writer?.Step,
        });
    }

    private int RecheckAll(string reason)
    {
        Stats.Recheck();
        var time = DateTimeOffset.UtcNow;
        var differences = 0;
        foreach (var source in _inventory.Files.ToList())
        {
            if (!string.Equals(FileFingerprint.Compute(source.Path, _options.MaxHashedFileBytes), source.Latest, StringComparison.Ordinal)
                && Compare(source, null, null, time, "recheck: " + reason))
            {
                differences++;
            }
        }

        foreach (var path in _controls.AllFiles().ToList())
        {
            var control = _controls.Match(path);
            var (old, now) = _controls.Update(path);
            if (control is null || string.Equals(old, now, StringComparison.Ordinal))
            {
                continue;
            }

            differences++;
            PublishFile(time, path, FileEvent.Modify, tracked: false, null);
            if (_controls.TakeDetection(path, _options.MaxControlDetectionsPerPath))
            {
                Stats.ControlDetection();
                _sink.Publish(new DetectionEvent(
                    time, control.DetectionType, control.Severity, $"{control.What} {path} changed (found by re-check; writer unknown)",
                    new Dictionary<string, string>
                    {
                        ["path"] = path,
                        ["control"] = control.What,
                        ["change"] = "found by re-check: " + reason,
                        ["oldSha256"] = FileFingerprint.Short(old),
                        ["newSha256"] = FileFingerprint.Short(now),
                    }));
            }
        }

        return differences;
    }

    private void PublishSourceOverwritten(DateTimeOffset time, SourceFile source, string previous, string now, Writer? writer, string how)
    {
        var key = $"{source.Path}\0{writer?.Process?.Exe}\0{writer?.Step?.Action}";
        if (!_detectionKeys.Add(key))
        {
            Stats.Suppressed();
            return;
        }

        if (Stats.SourceDetections >= _options.MaxSourceDetections)
        {
            Stats.Suppressed();
            if (!_detectionsCapNoticed)
            {
                _detectionsCapNoticed = true;
                Notice(
                    FileMonitorNotice.DetectionsCapped,
                    $"more than {_options.MaxSourceDetections} source-overwritten detections; further ones are counted, the file events are still recorded",
                    new Dictionary<string, string> { ["limit"] = _options.MaxSourceDetections.ToString(CultureInfo.InvariantCulture) });
            }

            return;
        }

        Stats.SourceDetection();
        var evidence = Evidence(source.Path, writer);
        evidence["relativePath"] = source.RelativePath;
        evidence["how"] = how;
        evidence["oldSha256"] = FileFingerprint.Short(previous);
        evidence["newSha256"] = FileFingerprint.Short(now);
        evidence["inventory"] = _inventory.Method;
        _sink.Publish(new DetectionEvent(
            time,
            SourceOverwritten,
            "high",
            $"source file {source.RelativePath} overwritten by {WriterText(writer)}",
            evidence)
        {
            Process = writer?.Process,
            Step = writer?.Step,
        });
    }

    private static Dictionary<string, string> Evidence(string path, Writer? writer)
    {
        var e = new Dictionary<string, string>(StringComparer.Ordinal) { ["path"] = path };
        if (writer is null)
        {
            e["writer"] = "unknown";
            return e;
        }

        e["pid"] = writer.Pid.ToString(CultureInfo.InvariantCulture);
        e["exe"] = writer.Process?.Exe ?? "unknown";
        if (writer.Process?.Cmdline is { } cmd)
        {
            e["cmdline"] = cmd;
        }

        e["step"] = writer.Step?.Action ?? "unknown";
        if (writer.Step?.Uses is { } uses)
        {
            e["uses"] = uses;
        }

        if (writer.ClosedBy is { } closer && closer != writer.Pid)
        {
            e["closedByPid"] = closer.ToString(CultureInfo.InvariantCulture);
        }

        return e;
    }

    private static string WriterText(Writer? w) =>
        w is null ? "an unknown process (found by re-check)"
            : $"{w.Process?.Exe ?? "pid " + w.Pid.ToString(CultureInfo.InvariantCulture)}"
              + (w.Step?.Action is { } a ? $" in step {a}" : "");

    private void PublishFile(DateTimeOffset time, string path, string operation, bool tracked, Writer? writer) =>
        _sink.Publish(new FileEvent(time, path, operation, tracked, writer?.Process, writer?.Step));

    private void RememberWriter(string path, FileChange change)
    {
        if (_pendingWriters.ContainsKey(path))
        {
            return;
        }

        if (_pendingWriters.Count >= 4096)
        {
            _pendingWriters.Clear();
        }

        _pendingWriters[path] = Describe(change) with { Since = Stopwatch.GetTimestamp() };
    }

    /// <summary>The writer seen modifying <paramref name="path"/> since its last close, else the process behind this change.</summary>
    private Writer TakeWriter(string path, FileChange change)
    {
        if (_pendingWriters.Remove(path, out var pending))
        {
            return pending with { ClosedBy = change.Pid };
        }

        return Describe(change);
    }

    /// <summary>The process behind a change: as the reader thread named it, else looked up now.</summary>
    private Writer Describe(FileChange change)
    {
        var pid = change.Pid;
        if (change.Attributed)
        {
            return new Writer(pid, change.Process ?? new ProcessInfo(pid, null, null), change.Step, null);
        }

        try
        {
            var (process, step) = _attribute(pid);
            return new Writer(pid, process ?? new ProcessInfo(pid, null, null), step, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return new Writer(pid, new ProcessInfo(pid, null, null), null, null);
        }
    }

    private void Notice(string kind, string message, IReadOnlyDictionary<string, string> details)
    {
        _logger?.LogWarning("File monitor: {Message}", message);
        _sink.Publish(new FileMonitorNotice(DateTimeOffset.UtcNow, kind, message, details));
    }

    private sealed record Writer(int Pid, ProcessInfo? Process, StepInfo? Step, int? ClosedBy)
    {
        /// <summary>When a write without a close was first seen (pending writers only).</summary>
        public long Since { get; init; }
    }
}
