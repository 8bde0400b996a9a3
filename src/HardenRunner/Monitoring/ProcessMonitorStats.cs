namespace HardenRunner.Monitoring;

/// <summary>Counters of a <see cref="ProcessMonitor"/> (all thread-safe reads).</summary>
public sealed class ProcessMonitorStats
{
    private long _forks;
    private long _execs;
    private long _execsUnread;
    private long _exits;
    private long _lost;
    private long _overflows;
    private long _signalsDropped;
    private long _detections;
    private long _suppressed;

    public long Forks => Interlocked.Read(ref _forks);

    /// <summary>Exec events handled (each one is recorded, with or without details).</summary>
    public long Execs => Interlocked.Read(ref _execs);

    /// <summary>Execs whose process was gone before its exe and command line could be read.</summary>
    public long ExecsUnread => Interlocked.Read(ref _execsUnread);

    public long Exits => Interlocked.Read(ref _exits);

    /// <summary>Kernel events lost (gaps in the connector's per-CPU sequence numbers).</summary>
    public long EventsLost => Interlocked.Read(ref _lost);

    /// <summary>Times the connector socket overflowed (ENOBUFS).</summary>
    public long Overflows => Interlocked.Read(ref _overflows);

    /// <summary>Execs recorded in the table but not published or inspected because the internal queue was full.</summary>
    public long SignalsDropped => Interlocked.Read(ref _signalsDropped);

    public long DetectionsPublished => Interlocked.Read(ref _detections);

    /// <summary>Detections not published because their type reached its cap.</summary>
    public long DetectionsSuppressed => Interlocked.Read(ref _suppressed);

    internal void Fork() => Interlocked.Increment(ref _forks);

    internal void Exec(bool unread)
    {
        Interlocked.Increment(ref _execs);
        if (unread)
        {
            Interlocked.Increment(ref _execsUnread);
        }
    }

    internal void Exit() => Interlocked.Increment(ref _exits);

    internal void SetLost(long lost) => Interlocked.Exchange(ref _lost, lost);

    internal void Overflow() => Interlocked.Increment(ref _overflows);

    internal void SignalDropped() => Interlocked.Increment(ref _signalsDropped);

    internal void Detection() => Interlocked.Increment(ref _detections);

    internal void Suppressed() => Interlocked.Increment(ref _suppressed);
}
