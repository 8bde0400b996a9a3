using System.Collections.Concurrent;
using System.Diagnostics;
using HardenRunner.Events;
using HardenRunner.Monitoring.Files;

namespace HardenRunner.Tests.Monitoring.Files;

/// <summary>Collects what the file monitor publishes.</summary>
internal sealed class FileEventCollector : IEventSink
{
    private readonly ConcurrentQueue<ApplianceEvent> _events = new();

    public void Publish(ApplianceEvent e) => _events.Enqueue(e);

    public List<T> All<T>() => [.. _events.OfType<T>()];

    public List<DetectionEvent> Detections(string type) => [.. _events.OfType<DetectionEvent>().Where(d => d.Type == type)];

    public T? WaitFor<T>(Func<T, bool> match, TimeSpan timeout)
        where T : ApplianceEvent
    {
        var sw = Stopwatch.StartNew();
        do
        {
            var hit = _events.OfType<T>().FirstOrDefault(match);
            if (hit is not null)
            {
                return hit;
            }

            Thread.Sleep(20);
        }
        while (sw.Elapsed < timeout);
        return null;
    }
}

/// <summary>
/// A workspace under /tmp (a real git repository or a plain directory), a running <see cref="FileIntegrityMonitor"/>
/// on it, and helpers to run job-like child processes. Everything is removed on dispose.
/// </summary>
internal sealed class FileMonitorHarness : IDisposable
{
    public const string NeedsRoot = "needs root (fanotify_init, FAN_MARK_FILESYSTEM and open_by_handle_at need CAP_SYS_ADMIN / CAP_DAC_READ_SEARCH)";

    private readonly ConcurrentDictionary<string, bool> _seen = new(StringComparer.Ordinal);
    private readonly List<Process> _children = [];
    private int _sentinels;

    private FileMonitorHarness(string root)
    {
        Root = root;
        Workspace = Path.Combine(root, "ws");
        Directory.CreateDirectory(Workspace);
    }

    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess;

    public string Root { get; }

    public string Workspace { get; }

    public FileEventCollector Sink { get; } = new();

    public FileIntegrityMonitor? Monitor { get; private set; }

    /// <summary>A fresh directory /tmp/hr-fim-…/ with an empty ws/ inside.</summary>
    public static FileMonitorHarness Create() =>
        new(Path.Combine("/tmp", "hr-fim-" + Guid.NewGuid().ToString("N")[..12]));

    /// <summary>A git repository in ws/ with the given files committed and a .gitignore.</summary>
    public FileMonitorHarness WithGitRepo(IDictionary<string, string> files, string gitignore = "bin/\nobj/\n*.log\n")
    {
        WriteFiles(files);
        File.WriteAllText(Path.Combine(Workspace, ".gitignore"), gitignore);
        Git("init", "-q");
        Git("add", "-A");
        Git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "initial");
        return this;
    }

    public FileMonitorHarness WithFiles(IDictionary<string, string> files)
    {
        WriteFiles(files);
        return this;
    }

    public FileIntegrityMonitor Start(Func<FileIntegrityMonitorOptions, FileIntegrityMonitorOptions>? configure = null)
    {
        var options = new FileIntegrityMonitorOptions
        {
            Workspace = Workspace,
            Attribute = ProcWriterAttribution.Attribute,
            Observer = c => _seen[c.Path] = true,
        };
        Monitor = FileIntegrityMonitor.Start(Sink, configure is null ? options : configure(options));
        return Monitor;
    }

    public string PathOf(string relative) => Path.Combine(Workspace, relative);

    /// <summary>
    /// Writes a new file into the workspace from this process and waits until the monitor has handled it: fanotify
    /// queues events in order, so every change caused before this call has been handled when it returns true.
    /// </summary>
    public bool Sync(TimeSpan? timeout = null)
    {
        var path = PathOf($".hr-sync-{Interlocked.Increment(ref _sentinels)}");
        File.WriteAllText(path, "sync");
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < (timeout ?? TimeSpan.FromSeconds(20)))
        {
            if (_seen.ContainsKey(path))
            {
                return true;
            }

            Thread.Sleep(10);
        }

        return false;
    }

    /// <summary>
    /// Runs <c>sh -c script</c> in the workspace with GITHUB_ACTION=<paramref name="step"/> like a job step, and keeps
    /// that shell alive until the monitor has handled every change it caused (<see cref="Sync"/>): the tests' /proc
    /// attribution can name only live processes (the process monitor's attributor remembers exited ones). Returns the
    /// script's exit code.
    /// </summary>
    public int RunStep(string step, string script, TimeSpan? timeout = null)
    {
        using var p = StartStep(step, script + "\nrc=$?; echo \"rc=$rc\"; read _", redirectOutput: true);
        var line = p.StandardOutput.ReadLineAsync();
        if (!line.Wait(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"step {step} did not finish: {script}");
        }

        var rc = line.Result is { } l && l.StartsWith("rc=", StringComparison.Ordinal) ? int.Parse(l[3..], System.Globalization.CultureInfo.InvariantCulture) : -1;
        Sync();
        p.StandardInput.Close();
        p.WaitForExit(10_000);
        return rc;
    }

    /// <summary>Starts <c>sh -c script</c> in the workspace with GITHUB_ACTION=<paramref name="step"/>; killed on dispose.</summary>
    public Process StartStep(string step, string script, bool redirectOutput = false)
    {
        var psi = new ProcessStartInfo("/bin/sh")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = redirectOutput,
            WorkingDirectory = Workspace,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.Environment["GITHUB_ACTION"] = step;
        psi.Environment["GITHUB_ACTION_REPOSITORY"] = "";
        var p = Process.Start(psi) ?? throw new InvalidOperationException("sh did not start");
        lock (_children)
        {
            _children.Add(p);
        }

        return p;
    }

    public void Git(params string[] args)
    {
        var psi = new ProcessStartInfo("git") { UseShellExecute = false, WorkingDirectory = Workspace, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("git did not start");
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000) || p.ExitCode != 0)
        {
            throw new InvalidOperationException($"git {string.Join(' ', args)} failed: {stderr.Result}");
        }
    }

    public void Dispose()
    {
        Monitor?.Dispose();
        lock (_children)
        {
            foreach (var p in _children)
            {
                try
                {
                    if (!p.HasExited)
                    {
                        p.Kill(entireProcessTree: true);
                        p.WaitForExit(5000);
                    }
                }
                catch (InvalidOperationException)
                {
                }

                p.Dispose();
            }
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void WriteFiles(IDictionary<string, string> files)
    {
        foreach (var (rel, text) in files)
        {
            var path = PathOf(rel);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
    }
}
