namespace HardenRunner.Monitoring;

/// <summary>
/// Knows which running processes are the runner's own: the job's worker (<c>Runner.Worker</c>: job processes are
/// its descendants) and the processes whose memory holds the job's secrets (worker and <c>Runner.Listener</c>).
/// A process is recognised by its kernel name (comm) or executable file name — both chosen by whoever starts it, so
/// this is a convention, not a proof; a stand-in named <c>Runner.Worker</c> is treated as one (tests rely on that).
/// Found at start by a /proc scan and afterwards from exec events. Thread-safe.
/// </summary>
internal sealed class RunnerProcesses(IReadOnlyCollection<string> workerNames, IReadOnlyCollection<string> protectedNames)
{
    private readonly object _gate = new();
    private readonly HashSet<int> _workers = [];
    private readonly Dictionary<int, string> _protected = [];

    /// <summary>Raised (on the caller's thread) when a process whose memory is protected appears or exits.</summary>
    public event Action<int>? ProtectedAdded;

    public event Action<int>? ProtectedRemoved;

    public int[] WorkerPids
    {
        get
        {
            lock (_gate)
            {
                return [.. _workers];
            }
        }
    }

    public int[] ProtectedPids
    {
        get
        {
            lock (_gate)
            {
                return [.. _protected.Keys];
            }
        }
    }

    /// <summary>The runner name a protected pid was recognised by ("Runner.Worker"), or null.</summary>
    public string? NameOf(int pid)
    {
        lock (_gate)
        {
            return _protected.GetValueOrDefault(pid);
        }
    }

    public bool IsWorker(int pid)
    {
        lock (_gate)
        {
            return _workers.Contains(pid);
        }
    }

    public bool IsProtected(int pid)
    {
        lock (_gate)
        {
            return _protected.ContainsKey(pid);
        }
    }

    /// <summary>Finds runner processes that were already running.</summary>
    public void ScanExisting()
    {
        foreach (var pid in ProcFs.ListPids())
        {
            if (ProcFs.TryReadStat(pid, out _, out _, out var comm))
            {
                Observe(pid, comm, ProcFs.ReadExe(pid));
            }
        }
    }

    /// <summary>Looks at an exec'd (or discovered) process.</summary>
    public void Observe(int pid, string? comm, string? exe)
    {
        var name = CommandLine.BaseName(exe);
        bool Matches(IReadOnlyCollection<string> names) =>
            names.Any(n => string.Equals(n, comm, StringComparison.Ordinal) || string.Equals(n, name, StringComparison.Ordinal));

        var worker = Matches(workerNames);
        var isProtected = Matches(protectedNames);
        bool added, removed;
        lock (_gate)
        {
            if (worker)
            {
                _workers.Add(pid);
            }
            else
            {
                _workers.Remove(pid); // the pid exec'd something else
            }

            added = isProtected && _protected.TryAdd(pid, protectedNames.First(n => n == comm || n == name));
            removed = !isProtected && _protected.Remove(pid);
        }

        if (added)
        {
            ProtectedAdded?.Invoke(pid);
        }

        if (removed)
        {
            ProtectedRemoved?.Invoke(pid);
        }
    }

    public void OnExit(int pid)
    {
        bool removed;
        lock (_gate)
        {
            _workers.Remove(pid);
            removed = _protected.Remove(pid);
        }

        if (removed)
        {
            ProtectedRemoved?.Invoke(pid);
        }
    }
}
