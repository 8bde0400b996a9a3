namespace HardenRunner.Service;

/// <summary>A process seen starting (exec or first sighting): its name (comm or executable file name) and its parent's.</summary>
public sealed record ProcessStarted(int Pid, int Ppid, ulong StartTicks, string Name, string? ParentName);

/// <summary>What a process event meant for the jobs on the host.</summary>
public abstract record JobTransition(int WorkerPid);

/// <summary>A runner worker started under a runner listener: a job begins.</summary>
public sealed record JobStarted(int WorkerPid, ulong StartTicks) : JobTransition(WorkerPid);

/// <summary>The active job's worker exited (or exec'd something else): the job is over.</summary>
public sealed record JobEnded(int WorkerPid) : JobTransition(WorkerPid);

/// <summary>A second worker started while a job was active: it is not a run of its own (one job at a time per appliance).</summary>
public sealed record JobOverlapIgnored(int WorkerPid, int ActiveWorkerPid) : JobTransition(WorkerPid);

/// <summary>The names that mark the runner's processes (GitHub's runner: <c>Runner.Worker</c> under <c>Runner.Listener</c>).</summary>
public sealed record JobProcessNames
{
    public IReadOnlyList<string> WorkerNames { get; init; } = ["Runner.Worker"];

    public IReadOnlyList<string> ListenerNames { get; init; } = ["Runner.Listener"];
}

/// <summary>
/// Job boundaries from process events, as a pure state machine (no clock, no /proc): a job starts when a process
/// named like the runner's worker starts whose parent is named like the runner's listener, and ends when that
/// process exits or exec's another program. One job is active at a time; a worker that starts while one is active
/// is reported (<see cref="JobOverlapIgnored"/>) and otherwise ignored. A pid is identified with its start time, so a
/// recycled pid is not mistaken for the worker. Not thread-safe: feed it from one thread.
/// </summary>
public sealed class JobTracker(JobProcessNames names)
{
    private readonly JobProcessNames _names = names ?? throw new ArgumentNullException(nameof(names));
    private (int Pid, ulong StartTicks)? _active;

    /// <summary>The active job's worker pid, or null between jobs.</summary>
    public int? ActiveWorker => _active?.Pid;

    /// <summary>Jobs started so far.</summary>
    public int JobsStarted { get; private set; }

    /// <summary>A process started; returns what that meant (usually nothing; at most an end and a start).</summary>
    public IReadOnlyList<JobTransition> OnStarted(ProcessStarted process)
    {
        ArgumentNullException.ThrowIfNull(process);
        if (_active is { } active && active.Pid == process.Pid)
        {
            // the worker's pid exec'd again: the same worker program is still the same job
            if (active.StartTicks == process.StartTicks && IsWorker(process.Name))
            {
                return [];
            }

            // it became something else, or the pid was recycled (a new process): the job is over
            _active = null;
            return IsJobWorker(process) ? [new JobEnded(active.Pid), Begin(process)] : [new JobEnded(active.Pid)];
        }

        if (!IsJobWorker(process))
        {
            return [];
        }

        if (_active is { } other)
        {
            return [new JobOverlapIgnored(process.Pid, other.Pid)];
        }

        return [Begin(process)];
    }

    /// <summary>A process exited; the active job ends when it was its worker.</summary>
    public IReadOnlyList<JobTransition> OnExited(int pid)
    {
        if (_active is { } active && active.Pid == pid)
        {
            _active = null;
            return [new JobEnded(pid)];
        }

        return [];
    }

    private JobStarted Begin(ProcessStarted process)
    {
        _active = (process.Pid, process.StartTicks);
        JobsStarted++;
        return new JobStarted(process.Pid, process.StartTicks);
    }

    private bool IsWorker(string name) => _names.WorkerNames.Contains(name, StringComparer.Ordinal);

    private bool IsJobWorker(ProcessStarted p) =>
        IsWorker(p.Name) && p.ParentName is { } parent && _names.ListenerNames.Contains(parent, StringComparer.Ordinal);
}
