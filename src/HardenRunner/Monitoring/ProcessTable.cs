namespace HardenRunner.Monitoring;

/// <summary>
/// pid → <see cref="ProcessEntry"/> for every process the monitor has seen. Bounded: exited processes are kept for a
/// grace period (so a network event that arrives after its process exited still finds it), then swept; when the
/// table is full the oldest exited entries go first, then the oldest running ones, and evictions are counted.
/// Thread-safe (one lock; every operation is a dictionary lookup or insert).
/// </summary>
internal sealed class ProcessTable
{
    private readonly object _gate = new();
    private readonly Dictionary<int, ProcessEntry> _entries = [];
    private readonly Queue<(int Pid, DateTimeOffset Exited)> _exited = new();
    private readonly int _capacity;
    private readonly TimeSpan _grace;
    private long _evicted;

    public ProcessTable(int capacity, TimeSpan exitGrace)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 16);
        _capacity = capacity;
        _grace = exitGrace;
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Entries removed before their grace period ended because the table was full.</summary>
    public long Evicted => Interlocked.Read(ref _evicted);

    public bool TryGet(int pid, out ProcessEntry entry)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(pid, out entry!);
        }
    }

    /// <summary>A fork: the child runs the parent's program until it execs.</summary>
    public ProcessEntry OnFork(int parent, int child, DateTimeOffset time)
    {
        lock (_gate)
        {
            var entry = _entries.TryGetValue(parent, out var p)
                ? p with { Pid = child, Ppid = parent, Start = time, Execed = false, Exited = null }
                : new ProcessEntry(child, parent, null, null, null, -1, -1, time, StepEnvironment.Unknown, Execed: false);
            PutLocked(entry);
            return entry;
        }
    }

    /// <summary>Adds or replaces an entry (an exec, or a process discovered in /proc).</summary>
    public void Put(ProcessEntry entry)
    {
        lock (_gate)
        {
            PutLocked(entry);
        }
    }

    /// <summary>Adds <paramref name="entry"/> unless the pid is already known (discovery must not overwrite exec data).</summary>
    public ProcessEntry GetOrAdd(ProcessEntry entry)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(entry.Pid, out var existing))
            {
                return existing;
            }

            PutLocked(entry);
            return entry;
        }
    }

    /// <summary>Applies <paramref name="update"/> to the pid's entry, if present.</summary>
    public bool Update(int pid, Func<ProcessEntry, ProcessEntry> update)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(pid, out var e))
            {
                return false;
            }

            _entries[pid] = update(e);
            return true;
        }
    }

    public void OnExit(int pid, DateTimeOffset time)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(pid, out var e) && e.Exited is null)
            {
                _entries[pid] = e with { Exited = time };
                _exited.Enqueue((pid, time));
            }
        }
    }

    /// <summary>Removes exited entries whose grace period is over; returns how many.</summary>
    public int Sweep(DateTimeOffset now)
    {
        var removed = 0;
        lock (_gate)
        {
            while (_exited.TryPeek(out var head) && now - head.Exited >= _grace)
            {
                _exited.Dequeue();
                if (_entries.TryGetValue(head.Pid, out var e) && e.Exited == head.Exited)
                {
                    _entries.Remove(head.Pid);
                    removed++;
                }
            }
        }

        return removed;
    }

    /// <summary>Running processes, newest first (the order a socket-owner search tries them in).</summary>
    public List<ProcessEntry> RunningNewestFirst()
    {
        List<ProcessEntry> list;
        lock (_gate)
        {
            list = new List<ProcessEntry>(_entries.Count);
            foreach (var e in _entries.Values)
            {
                if (e.Exited is null)
                {
                    list.Add(e);
                }
            }
        }

        list.Sort(static (a, b) => b.Start.CompareTo(a.Start));
        return list;
    }

    private void PutLocked(ProcessEntry entry)
    {
        if (!_entries.ContainsKey(entry.Pid) && _entries.Count >= _capacity)
        {
            EvictLocked();
        }

        _entries[entry.Pid] = entry;
    }

    private void EvictLocked()
    {
        // oldest exited first
        while (_exited.TryDequeue(out var head))
        {
            if (_entries.TryGetValue(head.Pid, out var e) && e.Exited == head.Exited)
            {
                _entries.Remove(head.Pid);
                Interlocked.Increment(ref _evicted);
                return;
            }
        }

        // then the oldest running entry (a leak: exits we never saw)
        ProcessEntry? oldest = null;
        foreach (var e in _entries.Values)
        {
            if (oldest is null || e.Start < oldest.Start)
            {
                oldest = e;
            }
        }

        if (oldest is not null)
        {
            _entries.Remove(oldest.Pid);
            Interlocked.Increment(ref _evicted);
        }
    }
}
