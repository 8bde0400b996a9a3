using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// Watches file changes with fanotify and hands those inside a <see cref="WatchScope"/> to one consumer, each with the
/// pid of the process that caused it. Preferred: FID reports (FAN_REPORT_DFID_NAME | FAN_REPORT_FID) and a filesystem
/// mark (FAN_MARK_FILESYSTEM) on each filesystem in scope, for modify, close-write, create, delete and both halves of
/// a rename (files and directories). Where a filesystem mark is refused (btrfs subvolumes, filesystems without file
/// handles) that filesystem gets a mount mark instead, which the kernel limits to modify and close-write; where FID
/// reports are refused altogether, classic fd reports with mount marks. <see cref="Mode"/> and
/// <see cref="Degradations"/> say which, and why.
/// </summary>
/// <remarks>
/// Threads: one dedicated reader thread (poll + read on a non-blocking descriptor, parse, resolve directory handles
/// through a cache, filter by scope) and a bounded queue to the consumer. Nothing is lost silently: a kernel
/// FAN_Q_OVERFLOW and a full consumer queue both surface as a <see cref="FileChangeKind.Overflow"/> change and in
/// <see cref="Stats"/>.
/// </remarks>
public sealed unsafe class FanotifyWatcher : IDisposable
{
    private const ulong FullMask = FanotifyInterop.FanModify | FanotifyInterop.FanCloseWrite | FanotifyInterop.FanCreate
        | FanotifyInterop.FanDelete | FanotifyInterop.FanMovedFrom | FanotifyInterop.FanMovedTo | FanotifyInterop.FanOnDir;

    private const ulong WriteMask = FanotifyInterop.FanModify | FanotifyInterop.FanCloseWrite;

    private const ulong DirectoryChange = FanotifyInterop.FanMovedFrom | FanotifyInterop.FanMovedTo | FanotifyInterop.FanDelete;

    private readonly int _fd;
    private readonly WatchScope _scope;
    private readonly FanotifyWatcherOptions _options;
    private readonly ILogger? _logger;
    private readonly DirectoryHandleResolver _resolver;
    private readonly BlockingCollection<FileChange> _queue;
    private readonly Thread _reader;
    private readonly WriterAttributionCache? _writers;
    private readonly List<string> _degradations = [];
    private volatile bool _stopping;
    private bool _lossPending;

    private FanotifyWatcher(int fd, FanotifyMarkMode mode, WatchScope scope, FanotifyWatcherOptions options, ILogger? logger)
    {
        _fd = fd;
        Mode = mode;
        _scope = scope;
        _options = options;
        _logger = logger;
        _resolver = new DirectoryHandleResolver(options.DirectoryCacheCapacity);
        _queue = new BlockingCollection<FileChange>(new ConcurrentQueue<FileChange>(), options.QueueCapacity);
        _reader = new Thread(ReadLoop) { IsBackground = true, Name = "hr-fanotify" };
        _writers = options.Attribute is null ? null : new WriterAttributionCache(options.Attribute, options.AttributionCacheTime);
    }

    /// <summary>The weakest mode any filesystem in scope ended up with.</summary>
    public FanotifyMarkMode Mode { get; private set; }

    /// <summary>Why a filesystem or the whole watcher got less than <see cref="FanotifyMarkMode.Filesystem"/>.</summary>
    public IReadOnlyList<string> Degradations => _degradations;

    public FanotifyWatcherStats Stats { get; } = new();

    /// <summary>Marks the filesystems of <paramref name="scope"/> and starts reading. Needs CAP_SYS_ADMIN (root).</summary>
    /// <exception cref="IOException">fanotify is unavailable or no path in scope could be marked.</exception>
    public static FanotifyWatcher Start(WatchScope scope, FanotifyWatcherOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(scope);
        options ??= new FanotifyWatcherOptions();
        var queueFlag = options.UnlimitedKernelQueue ? FanotifyInterop.FanUnlimitedQueue : 0;
        var baseFlags = FanotifyInterop.FanClassNotif | FanotifyInterop.FanCloexec | FanotifyInterop.FanNonblock | queueFlag;
        var degradations = new List<string>();
        int fd = -1;
        var mode = options.Mode ?? FanotifyMarkMode.Filesystem;
        if (mode != FanotifyMarkMode.MountFd)
        {
            fd = FanotifyInterop.FanotifyInit(baseFlags | FanotifyInterop.FanReportDfidName | FanotifyInterop.FanReportFid, 0);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                degradations.Add($"fanotify_init with FID reports failed ({FanotifyInterop.ErrorText(errno)}): fd reports and mount marks, no create/delete/rename events");
                mode = FanotifyMarkMode.MountFd;
            }
        }

        if (fd < 0)
        {
            fd = FanotifyInterop.FanotifyInit(baseFlags, (uint)(FanotifyInterop.ORdonly | FanotifyInterop.OLargefile | FanotifyInterop.OCloexec));
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                throw new IOException($"fanotify_init: {FanotifyInterop.ErrorText(errno)} (needs root / CAP_SYS_ADMIN and CONFIG_FANOTIFY)");
            }
        }

        var watcher = new FanotifyWatcher(fd, mode, scope, options, logger);
        watcher._degradations.AddRange(degradations);
        try
        {
            watcher.MarkAll();
        }
        catch
        {
            watcher.Dispose();
            throw;
        }

        watcher._reader.Start();
        return watcher;
    }

    /// <summary>Takes the next change, waiting up to <paramref name="timeout"/>; false when none came or the watcher stopped.</summary>
    public bool TryTake(out FileChange change, TimeSpan timeout)
    {
        try
        {
            return _queue.TryTake(out change, timeout);
        }
        catch (ObjectDisposedException)
        {
            change = default;
            return false;
        }
    }

    /// <summary>Changes waiting for the consumer.</summary>
    public int Pending => _queue.Count;

    public void Dispose()
    {
        _stopping = true;
        if (_reader.IsAlive)
        {
            _reader.Join();
        }

        FanotifyInterop.Close(_fd);
        _resolver.Dispose();
        _queue.CompleteAdding();
    }

    private void MarkAll()
    {
        var markedFs = new HashSet<FsId>();
        var marked = 0;
        foreach (var root in _scope.Subtrees.Concat(_scope.Files))
        {
            var dir = NearestDirectory(root);
            if (dir is null)
            {
                continue;
            }

            var fsid = _resolver.AddMount(dir);
            if (Mode == FanotifyMarkMode.Filesystem && markedFs.Contains(fsid))
            {
                marked++;
                continue;
            }

            if (Mark(dir, fsid))
            {
                markedFs.Add(fsid);
                marked++;
            }
        }

        if (marked == 0)
        {
            throw new IOException("fanotify: no path in the watch scope could be marked: " + string.Join("; ", _degradations));
        }
    }

    private bool Mark(string dir, FsId fsid)
    {
        if (Mode == FanotifyMarkMode.Filesystem)
        {
            if (FanotifyInterop.FanotifyMark(_fd, FanotifyInterop.FanMarkAdd | FanotifyInterop.FanMarkFilesystem, FullMask, -1, dir) == 0)
            {
                return true;
            }

            var errno = Marshal.GetLastPInvokeError();
            var reason = $"filesystem mark on {dir} (fsid {fsid}) refused: {FanotifyInterop.ErrorText(errno)}; mount mark instead: modify and close-write only";
            _degradations.Add(reason);
            _logger?.LogWarning("File monitor: {Reason}", reason);
        }

        if (FanotifyInterop.FanotifyMark(_fd, FanotifyInterop.FanMarkAdd | FanotifyInterop.FanMarkMount, WriteMask, -1, dir) == 0)
        {
            if (Mode == FanotifyMarkMode.Filesystem)
            {
                Mode = FanotifyMarkMode.MountFid;
            }

            return true;
        }

        var e = Marshal.GetLastPInvokeError();
        var failed = $"mount mark on {dir} refused: {FanotifyInterop.ErrorText(e)}; changes there are not seen";
        _degradations.Add(failed);
        _logger?.LogError("File monitor: {Reason}", failed);
        return false;
    }

    private static string? NearestDirectory(string path)
    {
        for (var p = path; !string.IsNullOrEmpty(p); p = Path.GetDirectoryName(p))
        {
            if (Directory.Exists(p))
            {
                return p;
            }
        }

        return null;
    }

    private void ReadLoop()
    {
        var buffer = new byte[Math.Max(4096, _options.ReadBufferBytes)];
        var events = new List<FanotifyRawEvent>(256);
        var pfd = new FanotifyInterop.PollFd { Fd = _fd, Events = FanotifyInterop.PollIn };
        while (!_stopping)
        {
            var ready = FanotifyInterop.Poll(&pfd, 1, 200);
            if (ready <= 0)
            {
                if (_lossPending && _queue.TryAdd(new FileChange(DateTimeOffset.UtcNow, FileChangeKind.Overflow, "", 0, false)))
                {
                    _lossPending = false; // the loss is reported even when no further event comes
                }

                continue;
            }

            for (var drained = 0; drained < 1024 && !_stopping; drained++)
            {
                nint n;
                fixed (byte* b = buffer)
                {
                    n = FanotifyInterop.Read(_fd, b, (nuint)buffer.Length);
                }

                if (n <= 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (n < 0 && errno != FanotifyInterop.Eagain && errno != FanotifyInterop.Eintr)
                    {
                        _logger?.LogError("File monitor: read from fanotify failed: {Error}", FanotifyInterop.ErrorText(errno));
                        Thread.Sleep(100);
                    }

                    break;
                }

                events.Clear();
                FanotifyEventParser.Parse(buffer.AsSpan(0, (int)n), events, out var malformed);
                if (malformed)
                {
                    Stats.AddMalformed();
                }

                Stats.AddRead(events.Count);
                foreach (var ev in events)
                {
                    try
                    {
                        Handle(ev);
                    }
                    catch (Exception e)
                    {
                        // never let one event end the reader: an exception here would also take the process down
                        // (an fd-mode event's descriptor is closed before anything that can throw)
                        Stats.AddUnresolved();
                        _logger?.LogError(e, "File monitor: an event could not be handled");
                    }
                }
            }
        }
    }

    private void Handle(in FanotifyRawEvent ev)
    {
        if (ev.IsOverflow)
        {
            Stats.AddOverflow();
            Enqueue(new FileChange(DateTimeOffset.UtcNow, FileChangeKind.Overflow, "", 0, false));
            return;
        }

        string? path;
        if (ev.Fd >= 0)
        {
            path = FanotifyInterop.ReadLinkText($"/proc/self/fd/{ev.Fd}");
            FanotifyInterop.Close(ev.Fd);
        }
        else if (ev.DirKey is not null && ev.FsId is { } fsid)
        {
            var dir = _resolver.Resolve(ev.DirKey, fsid, _scope.DirectoryMatters);
            path = dir is null ? null : WatchScope.Join(dir, ev.Name);
            if ((ev.Mask & DirectoryChange) != 0 && ev.IsDirectory)
            {
                _resolver.Invalidate(); // cached paths below the moved or deleted directory are now wrong
            }
        }
        else
        {
            return;
        }

        if (path is null)
        {
            Stats.AddUnresolved();
            return;
        }

        if (!_scope.Matches(path, ev.IsDirectory))
        {
            return;
        }

        var kind = (FileChangeKind)(ev.Mask & ~FanotifyInterop.FanOnDir & ~FanotifyInterop.FanEventOnChild);
        Stats.AddKept();
        var change = new FileChange(DateTimeOffset.UtcNow, kind, path, ev.Pid, ev.IsDirectory);
        if (_writers is not null)
        {
            var (process, step) = _writers.Get(ev.Pid);
            change = change with { Process = process, Step = step, Attributed = true };
        }

        Enqueue(change);
    }

    private void Enqueue(FileChange change)
    {
        if (_lossPending)
        {
            if (!_queue.TryAdd(new FileChange(DateTimeOffset.UtcNow, FileChangeKind.Overflow, "", 0, false)))
            {
                Stats.AddDropped();
                return;
            }

            _lossPending = false;
        }

        if (!_queue.TryAdd(change))
        {
            Stats.AddDropped();
            _lossPending = true;
        }
    }
}
