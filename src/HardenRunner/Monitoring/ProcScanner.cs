namespace HardenRunner.Monitoring;

/// <summary>
/// The fallback when the proc connector cannot be used: lists /proc every interval and reports processes that
/// appeared (an exec), exec'd in place (their kernel name changed) or vanished (an exit). It sees only what lives
/// across a scan: a process shorter-lived than the interval is missed, and so is an exec that keeps the same name.
/// The first scan only fills the table (processes already running are not "new").
/// </summary>
internal sealed class ProcScanner : IDisposable
{
    private readonly ProcessPipeline _pipeline;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private readonly Thread _thread;
    private readonly Dictionary<int, (ulong Start, string? Comm)> _known = [];
    private readonly ManualResetEventSlim _stop = new();
    private long _scans;

    public ProcScanner(ProcessPipeline pipeline, TimeSpan interval, TimeProvider time, ProcessReader reader)
    {
        _pipeline = pipeline;
        _interval = interval;
        _time = time;
        Seed(reader);
        _thread = new Thread(Run) { IsBackground = true, Name = "hr-proc-scan" };
        _thread.Start();
    }

    public long Scans => Interlocked.Read(ref _scans);

    /// <summary>The last error a scan met (scanning continues).</summary>
    public Exception? Failure { get; private set; }

    public void Dispose()
    {
        _stop.Set();
        if (_thread.IsAlive && Thread.CurrentThread != _thread)
        {
            _thread.Join(2000);
        }

        _stop.Dispose();
    }

    private void Seed(ProcessReader reader)
    {
        var now = _time.GetUtcNow();
        foreach (var pid in ProcFs.ListPids())
        {
            if (ProcFs.TryReadStat(pid, out var ppid, out var start, out var comm))
            {
                _known[pid] = (start, comm);
                _pipeline.Table.GetOrAdd(reader.Capture(pid, now, ppid) with { Execed = false });
            }
        }
    }

    private void Run()
    {
        while (!_stop.Wait(_interval))
        {
            try
            {
                ScanOnce();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Failure = e; // the next scan tries again
            }
        }
    }

    private void ScanOnce()
    {
        var now = _time.GetUtcNow();
        var seen = new HashSet<int>();
        foreach (var pid in ProcFs.ListPids())
        {
            if (!ProcFs.TryReadStat(pid, out _, out var start, out var comm))
            {
                continue;
            }

            seen.Add(pid);
            if (_known.TryGetValue(pid, out var k) && k.Start == start && k.Comm == comm)
            {
                continue;
            }

            if (_known.ContainsKey(pid) && k.Start != start)
            {
                _pipeline.OnExit(pid, now); // pid reused between scans
            }

            _known[pid] = (start, comm);
            _pipeline.OnExec(pid, now);
        }

        foreach (var pid in _known.Keys.Where(p => !seen.Contains(p)).ToList())
        {
            _known.Remove(pid);
            _pipeline.OnExit(pid, now);
        }

        Interlocked.Increment(ref _scans);
    }
}
