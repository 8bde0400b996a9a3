using System.Collections.Concurrent;
using HardenRunner.Monitoring.Detectors;

namespace HardenRunner.Monitoring;

/// <summary>Work handed from the event source's thread to the monitor's worker thread.</summary>
internal abstract record MonitorSignal(DateTimeOffset Time);

internal sealed record ExecSignal(ExecObservation Observation) : MonitorSignal(Observation.Time);

internal sealed record ExitSignal(int Pid, DateTimeOffset Time) : MonitorSignal(Time);

internal sealed record PtraceSignal(int TraceeTgid, int TracerTgid, DateTimeOffset Time) : MonitorSignal(Time);

internal sealed record UidSignal(ProcessEntry Before, int Ruid, int Euid, DateTimeOffset Time) : MonitorSignal(Time);

/// <summary>
/// The hot path shared by both event sources: updates the process table at once and captures an exec'd process
/// from /proc before it can exit, then queues the slower work (publishing, ancestry, detectors) for the worker
/// thread. Never blocks: when the queue is full the table still gets the process and the drop is counted.
/// </summary>
internal sealed class ProcessPipeline(ProcessTable table, ProcessReader reader, BlockingCollection<MonitorSignal> queue, ProcessMonitorStats stats)
{
    private long _enqueued;

    public ProcessTable Table => table;

    /// <summary>Signals queued so far.</summary>
    public long Enqueued => Interlocked.Read(ref _enqueued);

    public void OnFork(int parentTgid, int childTgid, DateTimeOffset time)
    {
        table.OnFork(parentTgid, childTgid, time);
        stats.Fork();
    }

    public void OnExec(int pid, DateTimeOffset time)
    {
        int? parent = table.TryGet(pid, out var forked) && forked.Exited is null ? forked.Ppid : null;
        // the step variables are read now, with exe and cmdline: a short-lived step process (a script that exits at
        // once) is gone before the worker thread could read its environment, and its step would be lost
        var entry = reader.Capture(pid, time, parent, withEnvironment: true);
        ulong stdin = 0, stdout = 0;
        if (ReverseShellDetector.WantsDescriptors(entry))
        {
            stdin = ProcFs.FdSocketInode(pid, 0);
            stdout = ProcFs.FdSocketInode(pid, 1);
        }

        table.Put(entry);
        stats.Exec(unread: entry.Exe is null && entry.Cmdline is null);
        Enqueue(new ExecSignal(new ExecObservation(entry, stdin, stdout, time)));
    }

    public void OnExit(int pid, DateTimeOffset time)
    {
        table.OnExit(pid, time);
        stats.Exit();
        Enqueue(new ExitSignal(pid, time));
    }

    public void OnPtrace(int traceeTgid, int tracerTgid, DateTimeOffset time) => Enqueue(new PtraceSignal(traceeTgid, tracerTgid, time));

    public void OnUid(int pid, int ruid, int euid, DateTimeOffset time)
    {
        if (!table.TryGet(pid, out var before))
        {
            return;
        }

        string? exe = null, cmdline = null;
        if (euid == 0 && before.Euid != 0)
        {
            // a set-uid exec commits its credentials after the new image is mapped, so /proc already names the
            // program that gained root, while the table may still hold the forked parent's image (the exec event
            // comes after this one): record the new image now, so whoever reads the table names the right program
            exe = ProcFs.ReadExe(pid);
            cmdline = ProcFs.ReadCmdline(pid, reader.MaxCmdlineBytes);
        }

        table.Update(pid, e => e with { Uid = ruid, Euid = euid, Exe = exe ?? e.Exe, Cmdline = cmdline ?? e.Cmdline });
        if (euid != before.Euid)
        {
            before = before with { Exe = exe ?? before.Exe, Cmdline = cmdline ?? before.Cmdline };
            Enqueue(new UidSignal(before, ruid, euid, time));
        }
    }

    private void Enqueue(MonitorSignal signal)
    {
        try
        {
            if (queue.TryAdd(signal))
            {
                Interlocked.Increment(ref _enqueued);
            }
            else
            {
                stats.SignalDropped();
            }
        }
        catch (InvalidOperationException)
        {
            // stopping
        }
    }
}
