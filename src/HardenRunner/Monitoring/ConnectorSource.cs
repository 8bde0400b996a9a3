using Microsoft.Extensions.Logging;

namespace HardenRunner.Monitoring;

/// <summary>
/// Reads the kernel proc connector on a dedicated thread and feeds <see cref="ProcessPipeline"/>: forks and exits of
/// processes (thread events are skipped), every exec, ptrace attaches and uid changes. Losses are counted exactly
/// from the connector's sequence numbers.
/// </summary>
internal sealed class ConnectorSource : IDisposable
{
    private readonly ProcConnectorSocket _socket;
    private readonly ProcessPipeline _pipeline;
    private readonly ProcessMonitorStats _stats;
    private readonly MonotonicClock _clock;
    private readonly ILogger? _logger;
    private readonly Thread _thread;
    private readonly ProcSequenceTracker _sequence = new();
    private volatile bool _stopping;
    private int _errors;

    public ConnectorSource(ProcConnectorSocket socket, ProcessPipeline pipeline, ProcessMonitorStats stats, MonotonicClock clock, ILogger? logger)
    {
        _socket = socket;
        _pipeline = pipeline;
        _stats = stats;
        _clock = clock;
        _logger = logger;
        _thread = new Thread(Run) { IsBackground = true, Name = "hr-proc-connector", Priority = ThreadPriority.AboveNormal };
        _thread.Start();
    }

    /// <summary>The error that stopped the reader, if any.</summary>
    public Exception? Failure { get; private set; }

    public void Dispose()
    {
        _stopping = true;
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join(2000);
        }

        _socket.Dispose();
    }

    private void Run()
    {
        var buffer = new byte[256 * 1024];

        // A short-lived process is gone a few hundred microseconds after its exec: the reader must run as soon as the
        // event arrives. A lower nice value (root only; ignored otherwise) lets it preempt the build it watches.
        _ = MonitorInterop.SetPriority(0 /* PRIO_PROCESS */, MonitorInterop.GetTid(), -10);
        try
        {
            while (!_stopping)
            {
                var n = _socket.Receive(buffer, 200);
                if (n < 0)
                {
                    _stats.Overflow();
                    continue;
                }

                if (n > 0)
                {
                    ProcConnectorMessage.Parse(buffer.AsSpan(0, n), Handle);
                    _stats.SetLost(_sequence.Lost);
                }
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failure = e;
            if (!_stopping)
            {
                _logger?.LogError(e, "proc connector reader stopped");
            }
        }
    }

    private void Handle(ProcEvent e)
    {
        _sequence.Observe(e);
        try
        {
            Dispatch(e);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // one bad event must not stop the reader (an exception here would end the thread, or the process)
            if (Interlocked.Increment(ref _errors) <= 5)
            {
                _logger?.LogWarning(ex, "proc connector: handling a {Kind} event of pid {Pid} failed", e.Kind, e.Tgid);
            }
        }
    }

    private void Dispatch(ProcEvent e)
    {
        switch (e.Kind)
        {
            case ProcEventKind.Fork when e.Pid == e.Tgid:
                _pipeline.OnFork(e.OtherTgid, e.Tgid, _clock.ToWall(e.TimestampNs));
                break;
            case ProcEventKind.Exec:
                _pipeline.OnExec(e.Tgid, _clock.ToWall(e.TimestampNs));
                break;
            case ProcEventKind.Exit when e.Pid == e.Tgid:
                _pipeline.OnExit(e.Tgid, _clock.ToWall(e.TimestampNs));
                break;
            case ProcEventKind.Ptrace:
                _pipeline.OnPtrace(e.Tgid, e.OtherTgid, _clock.ToWall(e.TimestampNs));
                break;
            case ProcEventKind.Uid when e.Pid == e.Tgid:
                _pipeline.OnUid(e.Tgid, (int)e.RealId, (int)e.EffectiveId, _clock.ToWall(e.TimestampNs));
                break;
        }
    }
}
