using HardenRunner.Events;

namespace HardenRunner.Monitoring.Files;

public sealed class FileIntegrityMonitorOptions
{
    /// <summary>The job's workspace (e.g. $GITHUB_WORKSPACE). Must exist.</summary>
    public required string Workspace { get; init; }

    /// <summary>The appliance's own controls to watch (see <see cref="ControlPaths.Standard"/>).</summary>
    public IReadOnlyList<ControlPath> ControlPaths { get; init; } = [];

    /// <summary>
    /// pid → process and step of the writer. Wire the process monitor's attributor here (it remembers processes that
    /// already exited); null uses <see cref="ProcWriterAttribution"/> (/proc only). Called on the consumer thread.
    /// </summary>
    public Func<int, (ProcessInfo? Process, StepInfo? Step)>? Attribute { get; init; }

    /// <summary>Writers whose changes are the appliance's own: no events, no detections (the baseline follows them). Null: this process.</summary>
    public Func<int, bool>? IsOwnWriter { get; init; }

    /// <summary>At most this many FileEvents for untracked files (build output, new files), one per path and operation.</summary>
    public int UntrackedEventLimit { get; init; } = 1000;

    /// <summary>At most this many source-overwritten detections per run (one per path, writer exe and step).</summary>
    public int MaxSourceDetections { get; init; } = 200;

    /// <summary>At most this many detections per control path.</summary>
    public int MaxControlDetectionsPerPath { get; init; } = 10;

    /// <summary>Files larger than this are fingerprinted by size and mtime, not content.</summary>
    public long MaxHashedFileBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>After the git index is rewritten (checkout, pull), list the source files again once it has been quiet this long.</summary>
    public TimeSpan InventoryRefreshDelay { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>A source or control file written without a close-write for this long (truncate by path, a writer keeping it open) is compared then.</summary>
    public TimeSpan UnclosedWriteCheckDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>After events were lost, re-check every source and control file once it has been quiet this long.</summary>
    public TimeSpan RecheckDelay { get; init; } = TimeSpan.FromSeconds(1);

    public FanotifyWatcherOptions Watcher { get; init; } = new();

    /// <summary>Diagnostics: called on the consumer thread after each change has been handled (tests use it to know a change was seen).</summary>
    public Action<FileChange>? Observer { get; init; }
}

/// <summary>Counters of a <see cref="FileIntegrityMonitor"/> (read from any thread).</summary>
public sealed class FileMonitorStats
{
    private long _changes;
    private long _trackedChanges;
    private long _identicalRewrites;
    private long _sourceDetections;
    private long _suppressedDetections;
    private long _controlDetections;
    private long _untrackedEvents;
    private long _untrackedSuppressed;
    private long _ownWrites;
    private long _lossNotices;
    private long _refreshes;
    private long _rechecks;

    /// <summary>Changes the consumer handled (everything the watcher kept).</summary>
    public long Changes => Interlocked.Read(ref _changes);

    /// <summary>Content, existence or name changes of source files.</summary>
    public long TrackedChanges => Interlocked.Read(ref _trackedChanges);

    /// <summary>Writes that left a source or control file's content as it was.</summary>
    public long IdenticalRewrites => Interlocked.Read(ref _identicalRewrites);

    public long SourceDetections => Interlocked.Read(ref _sourceDetections);

    /// <summary>source-overwritten detections not published (duplicates or past the cap).</summary>
    public long SuppressedDetections => Interlocked.Read(ref _suppressedDetections);

    public long ControlDetections => Interlocked.Read(ref _controlDetections);

    public long UntrackedEvents => Interlocked.Read(ref _untrackedEvents);

    public long UntrackedSuppressed => Interlocked.Read(ref _untrackedSuppressed);

    /// <summary>Changes by the appliance itself (ignored).</summary>
    public long OwnWrites => Interlocked.Read(ref _ownWrites);

    /// <summary>Times events were lost (kernel overflow or full queue); the first is announced with a notice, then at most one notice per 5 s.</summary>
    public long Losses => Interlocked.Read(ref _lossNotices);

    /// <summary>Inventory refreshes after the git index changed.</summary>
    public long Refreshes => Interlocked.Read(ref _refreshes);

    /// <summary>Full re-checks of source and control files (after lost events, or asked for).</summary>
    public long Rechecks => Interlocked.Read(ref _rechecks);

    internal void Add(ref long field) => Interlocked.Increment(ref field);

    internal void Change() => Add(ref _changes);

    internal void TrackedChange() => Add(ref _trackedChanges);

    internal void Identical() => Add(ref _identicalRewrites);

    internal void SourceDetection() => Add(ref _sourceDetections);

    internal void Suppressed() => Add(ref _suppressedDetections);

    internal void ControlDetection() => Add(ref _controlDetections);

    internal void Untracked() => Add(ref _untrackedEvents);

    internal void UntrackedDropped() => Add(ref _untrackedSuppressed);

    internal void Own() => Add(ref _ownWrites);

    internal void Loss() => Add(ref _lossNotices);

    internal void Refresh() => Add(ref _refreshes);

    internal void Recheck() => Add(ref _rechecks);
}
