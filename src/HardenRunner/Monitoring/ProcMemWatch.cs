using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using HardenRunner.Linux;

namespace HardenRunner.Monitoring;

/// <summary>
/// Reports every open or read of a watched process's memory file — /proc/&lt;pid&gt;/mem and each thread's
/// /proc/&lt;pid&gt;/task/&lt;tid&gt;/mem — with the pid of the process that did it, through fanotify notification
/// marks (FAN_OPEN | FAN_ACCESS) on those inodes. Permission events (FAN_OPEN_PERM) are refused on procfs by current
/// kernels, so this observes and cannot block. Proc inodes are created per dentry: the watch holds an O_PATH
/// descriptor of each file so the dentry (and the marked inode) stays the one every later path lookup finds.
/// One fanotify group per watched process, so an event names its target without opening anything. Threads started
/// after the last <see cref="Refresh"/> are not covered until the next one.
/// </summary>
internal sealed unsafe class ProcMemWatch : IDisposable
{
    private const int EventHeaderLength = 24;

    private readonly object _gate = new();
    private readonly Dictionary<int, Target> _targets = [];
    private readonly List<Target> _retired = [];
    private readonly Action<int, int, ulong> _onAccess;
    private readonly Thread _thread;
    private readonly int _self = MonitorInterop.GetPid();
    private volatile bool _stopping;
    private long _events;
    private long _overflows;

    /// <param name="onAccess">Called on the watch's thread with (reader pid, target pid, fanotify mask).</param>
    private ProcMemWatch(Action<int, int, ulong> onAccess)
    {
        _onAccess = onAccess;
        _thread = new Thread(Run) { IsBackground = true, Name = "hr-procmem-watch" };
    }

    public long Events => Interlocked.Read(ref _events);

    public long Overflows => Interlocked.Read(ref _overflows);

    /// <summary>The last error of the callback (diagnostics).</summary>
    public Exception? LastError { get; private set; }

    /// <summary>Whether fanotify can watch procfs here (root, kernel support); the reason when it cannot.</summary>
    public static string? Unavailable()
    {
        var fd = MonitorInterop.FanotifyInit(MonitorInterop.FanClassNotif | MonitorInterop.FanCloexec | MonitorInterop.FanNonblock, (uint)LinuxInterop.OReadOnly);
        if (fd < 0)
        {
            return "fanotify_init failed: " + LinuxInterop.ErrorText(Marshal.GetLastPInvokeError());
        }

        _ = LinuxInterop.Close(fd);
        return null;
    }

    public static ProcMemWatch Start(Action<int, int, ulong> onAccess)
    {
        var watch = new ProcMemWatch(onAccess);
        watch._thread.Start();
        return watch;
    }

    /// <summary>Starts watching <paramref name="pid"/>'s memory files; throws when fanotify refuses.</summary>
    public void Watch(int pid)
    {
        lock (_gate)
        {
            if (_targets.ContainsKey(pid))
            {
                return;
            }

            var fd = MonitorInterop.FanotifyInit(MonitorInterop.FanClassNotif | MonitorInterop.FanCloexec | MonitorInterop.FanNonblock, (uint)(LinuxInterop.OReadOnly | LinuxInterop.OCloexec));
            if (fd < 0)
            {
                throw new IOException("fanotify_init failed: " + LinuxInterop.ErrorText(Marshal.GetLastPInvokeError()));
            }

            var target = new Target(pid, fd);
            _targets[pid] = target;
            MarkAll(target);
        }
    }

    /// <summary>Adds marks for threads started since the last call.</summary>
    public void Refresh()
    {
        lock (_gate)
        {
            foreach (var t in _targets.Values)
            {
                MarkAll(t);
            }
        }
    }

    public void Unwatch(int pid)
    {
        lock (_gate)
        {
            if (_targets.Remove(pid, out var t))
            {
                _retired.Add(t); // closed by the reader thread, never under its poll
            }
        }
    }

    public int WatchedFiles(int pid)
    {
        lock (_gate)
        {
            return _targets.TryGetValue(pid, out var t) ? t.Pinned.Count : 0;
        }
    }

    public void Dispose()
    {
        _stopping = true;
        if (Thread.CurrentThread != _thread && _thread.IsAlive)
        {
            _thread.Join(2000);
        }

        lock (_gate)
        {
            foreach (var t in _targets.Values.Concat(_retired))
            {
                t.Close();
            }

            _targets.Clear();
            _retired.Clear();
        }
    }

    private static void MarkAll(Target t)
    {
        Mark(t, ProcFs.PidPath(t.Pid, "mem"));
        foreach (var tid in ProcFs.ListNumeric(ProcFs.PidPath(t.Pid, "task")))
        {
            Mark(t, ProcFs.PidPath(t.Pid, string.Create(CultureInfo.InvariantCulture, $"task/{tid}/mem")));
        }
    }

    private static void Mark(Target t, string path)
    {
        if (t.Pinned.ContainsKey(path))
        {
            return;
        }

        Span<byte> p = stackalloc byte[128];
        var n = Encoding.UTF8.GetBytes(path, p[..^1]);
        p[n] = 0;
        int opath;
        fixed (byte* pp = p)
        {
            opath = MonitorInterop.Open(pp, MonitorInterop.OPath | LinuxInterop.OCloexec);
        }

        if (opath < 0)
        {
            return; // the thread (or process) is gone
        }

        // fanotify_mark refuses an O_PATH descriptor itself (EBADF), but following its /proc/self/fd link lands on
        // exactly the dentry it pins
        var self = string.Create(CultureInfo.InvariantCulture, $"/proc/self/fd/{opath}");
        n = Encoding.UTF8.GetBytes(self, p[..^1]);
        p[n] = 0;
        int marked;
        fixed (byte* pp = p)
        {
            marked = MonitorInterop.FanotifyMark(t.Fd, MonitorInterop.FanMarkAdd, MonitorInterop.FanOpen | MonitorInterop.FanAccess, MonitorInterop.AtFdcwd, pp);
        }

        if (marked != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _ = LinuxInterop.Close(opath);
            if (errno is MonitorInterop.Enoent or MonitorInterop.Esrch)
            {
                return;
            }

            throw new IOException($"fanotify_mark({path}) failed: {LinuxInterop.ErrorText(errno)}");
        }

        t.Pinned[path] = opath;
    }

    private void Run()
    {
        var buffer = new byte[8192];
        while (!_stopping)
        {
            Target[] targets;
            lock (_gate)
            {
                foreach (var r in _retired)
                {
                    r.Close();
                }

                _retired.Clear();
                targets = [.. _targets.Values];
            }

            if (targets.Length == 0)
            {
                Thread.Sleep(100);
                continue;
            }

            var pfds = new LinuxInterop.PollFd[targets.Length];
            for (var i = 0; i < targets.Length; i++)
            {
                pfds[i] = new LinuxInterop.PollFd { Fd = targets[i].Fd, Events = LinuxInterop.PollIn };
            }

            int ready;
            fixed (LinuxInterop.PollFd* pp = pfds)
            {
                ready = LinuxInterop.Poll(pp, (nuint)pfds.Length, 100);
            }

            if (ready <= 0)
            {
                continue;
            }

            for (var i = 0; i < targets.Length; i++)
            {
                if ((pfds[i].Revents & LinuxInterop.PollIn) != 0)
                {
                    Drain(targets[i], buffer);
                }
            }
        }
    }

    private void Drain(Target t, byte[] buffer)
    {
        for (var round = 0; round < 64; round++)
        {
            nint n;
            fixed (byte* b = buffer)
            {
                n = MonitorInterop.Read(t.Fd, b, (nuint)buffer.Length);
            }

            if (n <= 0)
            {
                return; // EAGAIN (drained), or the group was closed by Unwatch
            }

            var span = buffer.AsSpan(0, (int)n);
            while (span.Length >= EventHeaderLength)
            {
                var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(span);
                if (length < EventHeaderLength || length > span.Length)
                {
                    break;
                }

                var mask = BinaryPrimitives.ReadUInt64LittleEndian(span[8..]);
                var fd = BinaryPrimitives.ReadInt32LittleEndian(span[16..]);
                var pid = BinaryPrimitives.ReadInt32LittleEndian(span[20..]);
                if (fd >= 0)
                {
                    _ = LinuxInterop.Close(fd); // fanotify opened the file for us; we never read it
                }

                if ((mask & MonitorInterop.FanQOverflow) != 0)
                {
                    Interlocked.Increment(ref _overflows);
                }
                else if (pid != _self && pid != t.Pid)
                {
                    Interlocked.Increment(ref _events);
                    try
                    {
                        _onAccess(pid, t.Pid, mask);
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        LastError = e; // reporting failed; keep watching
                    }
                }

                span = span[length..];
            }
        }
    }

    private sealed class Target(int pid, int fd)
    {
        public int Pid { get; } = pid;

        public int Fd { get; private set; } = fd;

        public Dictionary<string, int> Pinned { get; } = new(StringComparer.Ordinal);

        public void Close()
        {
            foreach (var opath in Pinned.Values)
            {
                _ = LinuxInterop.Close(opath);
            }

            Pinned.Clear();
            if (Fd >= 0)
            {
                _ = LinuxInterop.Close(Fd);
                Fd = -1;
            }
        }
    }
}
