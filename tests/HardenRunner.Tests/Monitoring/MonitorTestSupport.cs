using System.Collections.Concurrent;
using System.Diagnostics;
using HardenRunner.Events;
using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

/// <summary>Collects published events; tests wait for the ones they caused (the monitor sees the whole machine).</summary>
internal sealed class CollectingSink : IEventSink
{
    private readonly ConcurrentQueue<ApplianceEvent> _events = new();

    public void Publish(ApplianceEvent e) => _events.Enqueue(e);

    public IEnumerable<T> All<T>() => _events.OfType<T>();

    public T? WaitFor<T>(Func<T, bool> match, TimeSpan timeout)
        where T : ApplianceEvent
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            var hit = _events.OfType<T>().FirstOrDefault(match);
            if (hit is not null)
            {
                return hit;
            }

            Thread.Sleep(20);
        }

        return _events.OfType<T>().FirstOrDefault(match);
    }
}

/// <summary>Helpers for root-only monitor tests: child processes that are always killed, a private temp directory.</summary>
internal static class MonitorTest
{
    public const string NeedsRoot = "needs root (proc connector, fanotify, sock_diag, reading other processes' /proc files)";

    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess;

    public static string Python => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>
    /// Asserts a socket lookup named this test process. While another test in this process spawns a child, the child
    /// holds copies of every descriptor between fork and exec, so the holder found may legitimately be that child:
    /// accepted when it is a direct child of this process (or already gone).
    /// </summary>
    public static void AssertSelfOrForkedChild(int? pid)
    {
        Assert.NotNull(pid);
        if (pid != Environment.ProcessId && ProcFs.TryReadStat(pid.Value, out var ppid, out _, out _))
        {
            Assert.Equal(Environment.ProcessId, ppid);
        }
    }

    public static ProcessMonitor StartMonitor(CollectingSink sink, ProcessMonitorOptions? options = null) =>
        ProcessMonitor.Start(sink, options ?? new ProcessMonitorOptions { PollInterval = TimeSpan.FromMilliseconds(200) });

    public static Process Spawn(string file, params string[] args) => Spawn(file, null, args);

    public static Process Spawn(string file, IDictionary<string, string?>? environment, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                psi.Environment[k] = v;
            }
        }

        return Start(psi);
    }

    /// <summary>
    /// Process.Start, tried again for a moment when the program is "busy" (ETXTBSY): a program the test has just copied
    /// stays open for writing in a child that another test's Process.Start forked during the copy, until that child execs.
    /// </summary>
    public static Process Start(ProcessStartInfo psi)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return Process.Start(psi) ?? throw new InvalidOperationException("could not start " + psi.FileName);
            }
            catch (System.ComponentModel.Win32Exception e) when (e.NativeErrorCode == TextFileBusy && attempt < 50)
            {
                Thread.Sleep(20);
            }
        }
    }

    private const int TextFileBusy = 26; // ETXTBSY

    public static void Kill(Process? p)
    {
        if (p is null)
        {
            return;
        }

        try
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }

            p.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        p.Dispose();
    }

    /// <summary>A fresh directory under /tmp (mode 0755 so an unprivileged uid can run files in it); deleted on dispose.</summary>
    public static TempDir CreateTempDir() => new();

    public static bool WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
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

    internal sealed class TempDir : IDisposable
    {
        public TempDir()
        {
            Path = System.IO.Path.Combine("/tmp", "hrmon-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        public string Path { get; }

        public string Copy(string source, string name, UnixFileMode mode = (UnixFileMode)0b111_101_101)
        {
            var target = System.IO.Path.Combine(Path, name);
            File.Copy(source, target);
            File.SetUnixFileMode(target, mode);
            return target;
        }

        public string WriteScript(string name, string text)
        {
            var target = System.IO.Path.Combine(Path, name);
            File.WriteAllText(target, text);
            File.SetUnixFileMode(target, (UnixFileMode)0b111_101_101);
            return target;
        }

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
