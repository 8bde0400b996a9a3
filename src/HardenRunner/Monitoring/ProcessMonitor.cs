using System.Collections.Concurrent;
using HardenRunner.Events;
using HardenRunner.Monitoring.Detectors;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Monitoring;

/// <summary>
/// The process monitor: follows every fork, exec and exit on the machine through the kernel proc connector (or, when
/// that is unavailable, by scanning /proc — and says so in <see cref="Mode"/>, <see cref="FallbackReason"/> and the
/// log), records each exec (pid, ppid, exe, bounded and redacted command line, uid/euid, start, step) as a
/// <see cref="ProcessEvent"/>, keeps the process table that <see cref="Attributor"/> uses to name the process and step
/// behind network events, and runs the process detections (reverse-shell, runner-memory-read, privileged-container,
/// sudo-used). dns-exfiltration is fed by the DNS server: <see cref="DnsExfiltrationDetector"/>.
/// </summary>
/// <remarks>
/// Threads: the source thread (connector reader or scanner) only updates the table and captures exec'd processes
/// from /proc; a worker thread publishes, resolves ancestry and steps and runs the detectors; the fanotify watch has
/// its own thread. Nothing here blocks the source thread, so a burst of execs waits in the kernel socket buffer,
/// not behind a slow sink.
/// </remarks>
public sealed class ProcessMonitor : IDisposable
{
    public const string ConnectorMode = "proc-connector";
    public const string ScanMode = "proc-scan";

    private int _disposed;

    private readonly IEventSink _events;
    private readonly ProcessMonitorOptions _options;
    private readonly ILogger? _logger;
    private readonly TimeProvider _time;
    private readonly BlockingCollection<MonitorSignal> _queue = new(new ConcurrentQueue<MonitorSignal>(), 262_144);
    private readonly ProcessTable _table;
    private readonly AncestryResolver _ancestry;
    private readonly StepResolver _steps;
    private readonly ProcessAttributor _attributor;
    private readonly RunnerProcesses _runner;
    private readonly SudoDetector _sudo;
    private readonly RunnerMemoryReadDetector _memory;
    private readonly object _reportGate = new();
    private readonly HashSet<string> _reportedKeys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _reportedPerType = new(StringComparer.Ordinal);
    private readonly Thread _worker;
    private readonly ProcessPipeline _pipeline;
    private long _handled;
    private ConnectorSource? _connector;
    private ProcScanner? _scanner;
    private volatile bool _stopping;

    private ProcessMonitor(IEventSink events, ProcessMonitorOptions options, ILogger? logger, TimeProvider time)
    {
        _events = events;
        _options = options;
        _logger = logger;
        _time = time;
        _table = new ProcessTable(options.TableCapacity, options.ExitGrace);
        _ancestry = new AncestryResolver(_table, time, options.MaxCmdlineBytes);
        _steps = new StepResolver(_table, _ancestry);
        _attributor = new ProcessAttributor(OpenOwners(options, logger, _table), _ancestry, _steps, logger);
        _pipeline = new ProcessPipeline(_table, new ProcessReader(options.MaxCmdlineBytes), _queue, Stats);
        _runner = new RunnerProcesses(options.WorkerNames, options.ProtectedNames);
        _sudo = new SudoDetector(_ancestry, _runner);
        _memory = new RunnerMemoryReadDetector(_runner, Report, options.UseFanotify);
        _worker = new Thread(Work) { IsBackground = true, Name = "hr-process-monitor" };
    }

    /// <summary><see cref="ConnectorMode"/> or <see cref="ScanMode"/>.</summary>
    public string Mode { get; private set; } = ConnectorMode;

    /// <summary>Why the monitor scans /proc instead of using the proc connector (null when it uses the connector).</summary>
    public string? FallbackReason { get; private set; }

    /// <summary>Why runner-memory-read works without fanotify (null when fanotify is in use).</summary>
    public string? MemoryWatchFallbackReason => _memory.FanotifyUnavailable;

    public IProcessAttributor Attributor => _attributor;

    public ProcessMonitorStats Stats { get; } = new();

    /// <summary>Attribution cost counters (null when sock_diag could not be opened).</summary>
    internal SocketOwnerResolver? Owners => _attributor.Owners;

    internal ProcessTable Table => _table;

    internal RunnerMemoryReadDetector MemoryDetector => _memory;

    internal RunnerProcesses Runner => _runner;

    /// <summary>
    /// Starts monitoring. Never fails for want of the proc connector: it falls back to scanning /proc and logs a
    /// warning that says why. Throws only when /proc itself is unusable.
    /// </summary>
    public static ProcessMonitor Start(IEventSink events, ProcessMonitorOptions? options = null, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (!Directory.Exists(ProcFs.Root + "/self"))
        {
            throw new InvalidOperationException("the process monitor needs /proc");
        }

        var monitor = new ProcessMonitor(events, options ?? new ProcessMonitorOptions(), logger, time ?? TimeProvider.System);
        try
        {
            monitor.StartSources();
            return monitor;
        }
        catch
        {
            monitor.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _stopping = true;
        _connector?.Dispose();
        _queue.CompleteAdding();
        if (_worker.IsAlive)
        {
            _worker.Join(5000);
        }

        _scanner?.Dispose(); // after the worker: it may have started one

        _memory.Dispose();
        _attributor.Dispose();
        _queue.Dispose();
    }

    /// <summary>Waits until everything queued so far has been published and inspected (tests, stop).</summary>
    public bool Drain(TimeSpan timeout)
    {
        var target = _pipeline.Enqueued;
        var deadline = DateTime.UtcNow + timeout;
        while (Interlocked.Read(ref _handled) < target)
        {
            if (DateTime.UtcNow >= deadline || !_worker.IsAlive)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return true;
    }

    private static SocketOwnerResolver? OpenOwners(ProcessMonitorOptions options, ILogger? logger, ProcessTable table)
    {
        try
        {
            var diag = SockDiag.Open(options.SocketNetworkNamespace);
            var netns = NetworkNamespaceId(options.SocketNetworkNamespace);
            // the local-address shortcut knows this process's namespace only: not used when sock_diag looks into another one
            return new SocketOwnerResolver(diag, new SocketInodeIndex(), () => Candidates(table, netns), options.SocketNetworkNamespace is null ? LocalAddresses.Shared.Contains : null);
        }
        catch (IOException e)
        {
            logger?.LogWarning(e, "sock_diag unavailable: network events will not be attributed to processes");
            return null;
        }
    }

    /// <summary>
    /// The processes a socket-owner search tries first: running ones, newest first, that live in the sockets' network
    /// namespace (one link read each, against reading all of a process's descriptors). Processes of other namespaces —
    /// other containers, other tenants of the machine — are still searched, after these (the index's full pass), so a
    /// socket carried into another namespace is found too.
    /// </summary>
    private static IEnumerable<int> Candidates(ProcessTable table, string? netns)
    {
        var self = Environment.ProcessId;
        foreach (var e in table.RunningNewestFirst())
        {
            // the appliance's own sockets are never redirected to it (they are marked), but it holds many: it is left
            // to the full pass, where a socket of its own would still be found
            if (e.Pid != self && (netns is null || ProcFs.ReadLink(ProcFs.PidPath(e.Pid, "ns/net")) == netns))
            {
                yield return e.Pid;
            }
        }
    }

    /// <summary>"net:[inode]" of the namespace (null: the monitor's own), or null when it cannot be read (no filtering).</summary>
    private static string? NetworkNamespaceId(string? networkNamespace)
    {
        try
        {
            if (networkNamespace is null)
            {
                return ProcFs.ReadLink(ProcFs.Root + "/thread-self/ns/net");
            }

            using var thread = new Linux.DedicatedThread("hr-netns-id", networkNamespace);
            return thread.InvokeAsync(() => ProcFs.ReadLink(ProcFs.Root + "/thread-self/ns/net")).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return null;
        }
    }

    private void StartSources()
    {
        var reader = new ProcessReader(_options.MaxCmdlineBytes);
        var pipeline = _pipeline;
        _runner.ScanExisting();
        if (_attributor.Owners is { } owners)
        {
            _ = Task.Run(owners.Index.Warm);
        }

        if (_options.ForceProcScan)
        {
            FallbackReason = "forced by options";
        }
        else
        {
            try
            {
                var socket = ProcConnectorSocket.Open(_options.ConnectorReceiveBufferBytes, _options.ConnectorNetworkNamespace);
                _connector = new ConnectorSource(socket, pipeline, Stats, new MonotonicClock(_time), _logger);
            }
            catch (IOException e)
            {
                FallbackReason = e.Message;
            }
        }

        if (_connector is null)
        {
            Mode = ScanMode;
            _logger?.LogWarning(
                "process monitor: proc connector unavailable ({Reason}); scanning /proc every {Interval} ms instead — processes shorter-lived than that are missed",
                FallbackReason,
                (int)_options.ScanInterval.TotalMilliseconds);
            _scanner = new ProcScanner(pipeline, _options.ScanInterval, _time, reader);
        }
        else
        {
            _logger?.LogInformation("process monitor: proc connector, receive buffer {Bytes} bytes", _options.ConnectorReceiveBufferBytes);
        }

        if (_memory.FanotifyUnavailable is { } why)
        {
            _logger?.LogWarning("runner-memory-read: fanotify unavailable ({Reason}); polling descriptors instead", why);
        }

        _worker.Start();
    }

    private void Work()
    {
        var nextPoll = DateTime.UtcNow;
        while (!_stopping || _queue.Count > 0)
        {
            MonitorSignal? signal = null;
            try
            {
                _queue.TryTake(out signal, _options.PollInterval);
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (InvalidOperationException)
            {
                return; // completed
            }

            if (signal is not null)
            {
                try
                {
                    Handle(signal);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _logger?.LogWarning(e, "process monitor: handling {Signal} failed", signal.GetType().Name);
                }
                finally
                {
                    Interlocked.Increment(ref _handled);
                }
            }

            if (DateTime.UtcNow >= nextPoll)
            {
                nextPoll = DateTime.UtcNow + _options.PollInterval;
                Upkeep();
            }
        }
    }

    private void Upkeep()
    {
        _table.Sweep(_time.GetUtcNow());
        if (_connector?.Failure is { } failure && _scanner is null && !_stopping)
        {
            // fail-safe: a dead connector reader must not leave the job unwatched
            FallbackReason = "the proc connector reader failed: " + failure.Message;
            Mode = ScanMode;
            _logger?.LogError(failure, "process monitor: proc connector reader failed; scanning /proc from now on");
            _scanner = new ProcScanner(_pipeline, _options.ScanInterval, _time, new ProcessReader(_options.MaxCmdlineBytes));
        }

        try
        {
            _memory.Poll(connectorActive: _scanner is null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger?.LogWarning(e, "runner-memory-read poll failed");
        }
    }

    private void Handle(MonitorSignal signal)
    {
        switch (signal)
        {
            case ExecSignal { Observation: var o }:
                var p = o.Process;
                _runner.Observe(p.Pid, p.Comm, p.Exe);
                if (_options.PublishProcessEvents)
                {
                    var step = _steps.Resolve(p.Pid);
                    _events.Publish(new ProcessEvent(_time.GetUtcNow(), p.Pid, p.Ppid, p.Exe ?? p.Comm, p.Cmdline, p.Start, p.Uid, p.Euid, step));
                }

                ReportIfAny(ReverseShellDetector.Inspect(o, ProcNetSockets.Find));
                ReportIfAny(PrivilegedContainerDetector.Inspect(o));
                ReportIfAny(_sudo.Inspect(o));
                ReportIfAny(_memory.Inspect(o));
                break;
            case ExitSignal exit:
                _runner.OnExit(exit.Pid);
                break;
            case PtraceSignal ptrace:
                _memory.OnPtrace(ptrace.TraceeTgid, ptrace.TracerTgid);
                break;
            case UidSignal uid:
                ReportIfAny(_sudo.InspectUidChange(uid.Before, uid.Ruid, uid.Euid));
                break;
        }
    }

    private void ReportIfAny(Finding? finding)
    {
        if (finding is not null)
        {
            Report(finding);
        }
    }

    /// <summary>Publishes a finding once per key, at most <see cref="ProcessMonitorOptions.MaxDetectionsPerType"/> per type. Thread-safe.</summary>
    private void Report(Finding f)
    {
        lock (_reportGate)
        {
            if (!_reportedKeys.Add(f.Type + "|" + f.Key))
            {
                return;
            }

            var count = _reportedPerType.GetValueOrDefault(f.Type);
            if (count >= _options.MaxDetectionsPerType)
            {
                Stats.Suppressed();
                return;
            }

            _reportedPerType[f.Type] = count + 1;
        }

        var attribution = f.Pid > 0 ? _attributor.AttributePid(f.Pid) : Attribution.Unknown;
        var detection = new DetectionEvent(_time.GetUtcNow(), f.Type, f.Severity, CommandLineRedactor.Redact(f.Summary), f.Evidence)
        {
            Process = attribution.Process,
            Step = attribution.Step,
        };
        Stats.Detection();
        _events.Publish(detection);
        _logger?.LogWarning("detection {Type} ({Severity}): {Summary}", f.Type, f.Severity, detection.Summary);
    }
}
