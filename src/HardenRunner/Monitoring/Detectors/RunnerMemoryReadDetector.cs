using System.Globalization;

namespace HardenRunner.Monitoring.Detectors;

/// <summary>
/// runner-memory-read: another process reading the memory of the runner's worker or listener — the technique of the
/// tj-actions/changed-files compromise (a script that reads /proc/&lt;Runner.Worker&gt;/mem for secrets). Four methods,
/// strongest first (docs/monitoring.md lists their blind spots):
/// <list type="number">
/// <item>fanotify notification marks on /proc/&lt;pid&gt;/mem and every /proc/&lt;pid&gt;/task/&lt;tid&gt;/mem
/// (<see cref="ProcMemWatch"/>): the kernel names the opener at open and at each read;</item>
/// <item>proc-connector ptrace events: PTRACE_ATTACH/SEIZE on any thread of the target names the tracer;</item>
/// <item>command lines at exec that name /proc/&lt;pid&gt;/mem or point a debugger/dumper (gdb, gcore, lldb, strace,
/// createdump, dotnet-dump, …) at the target's pid;</item>
/// <item>a periodic poll: the target's TracerPid (when the connector is not in use) and, only when fanotify is
/// unavailable, a scan of every process's open descriptors for the target's mem file.</item>
/// </list>
/// Each (reader, target) pair is reported once.
/// </summary>
internal sealed class RunnerMemoryReadDetector : IDisposable
{
    private static readonly HashSet<string> Debuggers = new(StringComparer.Ordinal)
    {
        "gdb", "gcore", "lldb", "strace", "ltrace", "pstack", "eu-stack", "createdump", "dotnet-dump", "dotnet-gcdump",
        "dotnet-trace", "procdump", "memdump", "perf",
    };

    private readonly RunnerProcesses _runner;
    private readonly Action<Finding> _report;
    private readonly ProcMemWatch? _watch;

    public RunnerMemoryReadDetector(RunnerProcesses runner, Action<Finding> report, bool useFanotify)
    {
        _runner = runner;
        _report = report;
        if (useFanotify)
        {
            FanotifyUnavailable = ProcMemWatch.Unavailable();
            if (FanotifyUnavailable is null)
            {
                _watch = ProcMemWatch.Start(OnAccess);
            }
        }
        else
        {
            FanotifyUnavailable = "disabled by options";
        }

        runner.ProtectedAdded += OnProtectedAdded;
        runner.ProtectedRemoved += OnProtectedRemoved;
    }

    /// <summary>Why the fanotify method is not in use (null when it is).</summary>
    public string? FanotifyUnavailable { get; private set; }

    /// <summary>Marked memory files of a protected process (tests, diagnostics).</summary>
    public int WatchedFiles(int pid) => _watch?.WatchedFiles(pid) ?? 0;

    /// <summary>Method 2: a ptrace attach (tracer 0 = detach, ignored).</summary>
    public void OnPtrace(int traceeTgid, int tracerTgid)
    {
        if (tracerTgid > 0 && tracerTgid != traceeTgid && _runner.IsProtected(traceeTgid))
        {
            _report(Create(tracerTgid, traceeTgid, "ptrace-attach", "attached to it with ptrace"));
        }
    }

    /// <summary>Method 3: exec-time command line.</summary>
    public Finding? Inspect(ExecObservation o)
    {
        var p = o.Process;
        if (p.Cmdline is not { Length: > 0 } cmdline)
        {
            return null;
        }

        foreach (var target in _runner.ProtectedPids)
        {
            if (target == p.Pid)
            {
                continue;
            }

            var t = target.ToString(CultureInfo.InvariantCulture);
            if (cmdline.Contains($"/proc/{t}/mem", StringComparison.Ordinal)
                || (cmdline.Contains($"/proc/{t}/task/", StringComparison.Ordinal) && cmdline.Contains("/mem", StringComparison.Ordinal)))
            {
                return Create(p.Pid, target, "command-line", "names its memory file on the command line");
            }

            if (Debuggers.Contains(p.Name) && PointsAt(CommandLine.Split(cmdline), t))
            {
                return Create(p.Pid, target, "command-line", $"runs {p.Name} against it");
            }
        }

        return null;
    }

    /// <summary>Method 4 and upkeep, every second or so: new threads get marks; pollers look for tracers and open descriptors.</summary>
    public void Poll(bool connectorActive)
    {
        try
        {
            _watch?.Refresh();
        }
        catch (IOException e)
        {
            FanotifyUnavailable = e.Message;
        }

        var targets = _runner.ProtectedPids;
        if (targets.Length == 0)
        {
            return;
        }

        if (!connectorActive)
        {
            foreach (var target in targets)
            {
                if (ProcFs.TryReadStatus(target, out var status) && status.TracerPid > 0)
                {
                    _report(Create(status.TracerPid, target, "tracer-pid", "is tracing it (TracerPid)"));
                }
            }
        }

        if (_watch is null)
        {
            ScanDescriptors(targets);
        }
    }

    public void Dispose()
    {
        _runner.ProtectedAdded -= OnProtectedAdded;
        _runner.ProtectedRemoved -= OnProtectedRemoved;
        _watch?.Dispose();
    }

    private static bool PointsAt(List<string> args, string pid)
    {
        for (var i = 1; i < args.Count; i++)
        {
            var a = args[i];
            if (a == pid || a == "-p" + pid || a == "--pid=" + pid || a == "--process-id=" + pid
                || ((a is "-p" or "--pid" or "--process-id" or "--attach") && i + 1 < args.Count && args[i + 1] == pid))
            {
                return true;
            }
        }

        return false;
    }

    private Finding Create(int reader, int target, string method, string what)
    {
        var inv = CultureInfo.InvariantCulture;
        var name = _runner.NameOf(target) ?? "runner process";
        return new Finding(
            DetectionTypes.RunnerMemoryRead,
            DetectionTypes.Critical,
            $"pid {reader.ToString(inv)} {what}: the memory of {name} (pid {target.ToString(inv)})",
            new Dictionary<string, string>
            {
                ["targetPid"] = target.ToString(inv),
                ["target"] = name,
                ["method"] = method,
            },
            reader,
            string.Create(inv, $"{reader}:{target}"));
    }

    private void OnAccess(int reader, int target, ulong mask)
    {
        var what = (mask & MonitorInterop.FanAccess) != 0 ? "read" : "opened";
        _report(Create(reader, target, "fanotify", what + " /proc/" + target.ToString(CultureInfo.InvariantCulture) + "/mem"));
    }

    private void OnProtectedAdded(int pid)
    {
        try
        {
            _watch?.Watch(pid);
        }
        catch (IOException e)
        {
            FanotifyUnavailable = e.Message;
        }
    }

    private void OnProtectedRemoved(int pid) => _watch?.Unwatch(pid);

    private void ScanDescriptors(int[] targets)
    {
        var wanted = targets.ToDictionary(t => t, t => "/proc/" + t.ToString(CultureInfo.InvariantCulture) + "/");
        foreach (var pid in ProcFs.ListPids())
        {
            if (wanted.ContainsKey(pid))
            {
                continue;
            }

            foreach (var fd in ProcFs.ListNumeric(ProcFs.PidPath(pid, "fd")))
            {
                var link = ProcFs.ReadLink(ProcFs.FdPath(pid, fd));
                if (link is null || !link.EndsWith("/mem", StringComparison.Ordinal))
                {
                    continue;
                }

                foreach (var (target, prefix) in wanted)
                {
                    if (link.StartsWith(prefix, StringComparison.Ordinal))
                    {
                        _report(Create(pid, target, "fd-scan", "holds " + link + " open"));
                    }
                }
            }
        }
    }
}
