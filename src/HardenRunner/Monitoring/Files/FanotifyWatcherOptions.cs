using HardenRunner.Events;

namespace HardenRunner.Monitoring.Files;

/// <summary>How the watcher asks the kernel for events.</summary>
public enum FanotifyMarkMode
{
    /// <summary>FID reports (directory handle + name), one filesystem mark per filesystem: every operation.</summary>
    Filesystem,

    /// <summary>FID reports, mount marks: only modify and close-write (the kernel gives no create/delete/rename on mounts).</summary>
    MountFid,

    /// <summary>Classic fd reports, mount marks: only modify and close-write; for kernels or filesystems without file handles.</summary>
    MountFd,
}

public sealed class FanotifyWatcherOptions
{
    /// <summary>Null: the best mode that works (filesystem, then mount marks). Set to force a mode (tests, diagnostics).</summary>
    public FanotifyMarkMode? Mode { get; init; }

    /// <summary>Capacity of the queue between the reader thread and the consumer; when full, changes are dropped and an overflow is reported.</summary>
    public int QueueCapacity { get; init; } = 65_536;

    /// <summary>Ask the kernel for an unbounded event queue (FAN_UNLIMITED_QUEUE) instead of max_queued_events (16384 by default).</summary>
    public bool UnlimitedKernelQueue { get; init; }

    /// <summary>Bytes read from the fanotify descriptor at once.</summary>
    public int ReadBufferBytes { get; init; } = 64 * 1024;

    /// <summary>
    /// pid → process and step, called on the reader thread for every change kept (cached per pid for
    /// <see cref="AttributionCacheTime"/>), so short-lived writers are named before they exit. Null: no attribution.
    /// </summary>
    public Func<int, (ProcessInfo? Process, StepInfo? Step)>? Attribute { get; init; }

    /// <summary>How long a pid's attribution is reused (while its exe reads the same).</summary>
    public TimeSpan AttributionCacheTime { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Bound of the directory-handle → path cache.</summary>
    public int DirectoryCacheCapacity { get; init; } = 65_536;

    /// <summary>A copy of these options with <paramref name="attribute"/> (kept when one is set already).</summary>
    internal FanotifyWatcherOptions WithAttribute(Func<int, (ProcessInfo? Process, StepInfo? Step)> attribute) => new()
    {
        Mode = Mode,
        QueueCapacity = QueueCapacity,
        UnlimitedKernelQueue = UnlimitedKernelQueue,
        ReadBufferBytes = ReadBufferBytes,
        DirectoryCacheCapacity = DirectoryCacheCapacity,
        AttributionCacheTime = AttributionCacheTime,
        Attribute = Attribute ?? attribute,
    };
}

/// <summary>Counters of a <see cref="FanotifyWatcher"/> (read from any thread).</summary>
public sealed class FanotifyWatcherStats
{
    private long _eventsRead;
    private long _kept;
    private long _overflows;
    private long _dropped;
    private long _malformed;
    private long _unresolved;

    /// <summary>Events read from the kernel (all processes, all marked filesystems).</summary>
    public long EventsRead => Interlocked.Read(ref _eventsRead);

    /// <summary>Events inside the watch scope, handed to the consumer.</summary>
    public long Kept => Interlocked.Read(ref _kept);

    /// <summary>FAN_Q_OVERFLOW events from the kernel: events were lost there.</summary>
    public long KernelOverflows => Interlocked.Read(ref _overflows);

    /// <summary>Changes dropped because the consumer queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Buffers the parser could not make sense of (should stay 0).</summary>
    public long Malformed => Interlocked.Read(ref _malformed);

    /// <summary>Events whose directory could not be resolved to a path (deleted before it was read, unknown filesystem).</summary>
    public long Unresolved => Interlocked.Read(ref _unresolved);

    internal void AddRead(long n) => Interlocked.Add(ref _eventsRead, n);

    internal void AddKept() => Interlocked.Increment(ref _kept);

    internal void AddOverflow() => Interlocked.Increment(ref _overflows);

    internal void AddDropped() => Interlocked.Increment(ref _dropped);

    internal void AddMalformed() => Interlocked.Increment(ref _malformed);

    internal void AddUnresolved() => Interlocked.Increment(ref _unresolved);
}
