namespace HardenRunner.Monitoring;

/// <summary>
/// Maps a socket inode to a process holding it, by reading the /proc/&lt;pid&gt;/fd links. Every socket seen during
/// a search is remembered, so a later lookup of a socket of an already-searched process is a dictionary hit; a hit
/// is trusted only after re-reading its one fd link. A process's descriptors are read with one directory read and
/// one readlinkat each (<see cref="ProcFs.ReadSocketDescriptors"/>). A search tries the given candidates first (the newest processes:
/// the one that just connected is usually young), then every other process, and stops at the first holder.
/// Thread-safe (one search at a time).
/// </summary>
internal sealed class SocketInodeIndex
{
    private const int MaxRemembered = 200_000;

    private readonly object _gate = new();
    private readonly Dictionary<ulong, (int Pid, int Fd)> _owners = [];
    private readonly List<(int Fd, ulong Inode)> _sockets = [];
    private long _lookups;
    private long _hits;
    private long _processesScanned;
    private long _linksRead;
    private long _closedBeforeFullPass;

    public long Lookups => Interlocked.Read(ref _lookups);

    public long CacheHits => Interlocked.Read(ref _hits);

    public long ProcessesScanned => Interlocked.Read(ref _processesScanned);

    public long LinksRead => Interlocked.Read(ref _linksRead);

    /// <summary>How many searches ended before the pass over every process because the socket had closed.</summary>
    public long ClosedBeforeFullPass => Interlocked.Read(ref _closedBeforeFullPass);

    /// <summary>Reads every process's descriptors once (at start, off the request path): fills the map and warms the code.</summary>
    public void Warm()
    {
        lock (_gate)
        {
            foreach (var pid in ProcFs.ListPids())
            {
                Scan(pid, 0);
            }
        }
    }

    /// <summary>
    /// A pid whose fd table holds socket <paramref name="inode"/>, or null. When the candidates do not hold it and
    /// <paramref name="stillOpen"/> says the socket is gone (a resolver's UDP socket closes as soon as its answer
    /// arrives), the pass over every other process is skipped: it could only end empty-handed.
    /// </summary>
    public int? FindOwner(ulong inode, IEnumerable<int> candidates, Func<bool>? stillOpen = null)
    {
        if (inode == 0)
        {
            return null;
        }

        lock (_gate)
        {
            _lookups++;
            if (_owners.TryGetValue(inode, out var cached))
            {
                _linksRead++;
                if (ProcFs.FdSocketInode(cached.Pid, cached.Fd) == inode)
                {
                    _hits++;
                    return cached.Pid;
                }

                _owners.Remove(inode);
            }

            if (_owners.Count > MaxRemembered)
            {
                _owners.Clear();
            }

            var scanned = new HashSet<int>();
            foreach (var pid in candidates)
            {
                if (scanned.Add(pid) && Scan(pid, inode))
                {
                    return pid;
                }
            }

            if (stillOpen is not null && !stillOpen())
            {
                _closedBeforeFullPass++;
                return null;
            }

            var all = ProcFs.ListPids();
            all.Sort(static (a, b) => b.CompareTo(a)); // higher pids are (mostly) younger
            foreach (var pid in all)
            {
                if (scanned.Add(pid) && Scan(pid, inode))
                {
                    return pid;
                }
            }

            return null;
        }
    }

    /// <summary>Reads every fd link of <paramref name="pid"/>, remembering all sockets; true when one is <paramref name="inode"/>.</summary>
    private bool Scan(int pid, ulong inode)
    {
        _processesScanned++;
        _sockets.Clear();
        var read = ProcFs.ReadSocketDescriptors(pid, _sockets);
        if (read > 0)
        {
            _linksRead += read;
        }

        var found = false;
        foreach (var (fd, socket) in _sockets)
        {
            _owners.TryAdd(socket, (pid, fd));
            if (socket == inode && inode != 0)
            {
                _owners[socket] = (pid, fd);
                found = true;
            }
        }

        return found;
    }
}
