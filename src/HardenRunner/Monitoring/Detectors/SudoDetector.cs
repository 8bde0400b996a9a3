using System.Globalization;

namespace HardenRunner.Monitoring.Detectors;

/// <summary>
/// sudo-used: a process below the runner worker that gains effective uid 0 — it execs a set-uid-root program
/// (sudo, su, pkexec, or any other) from a non-root real uid, or its parent was not root, or it changes its euid to 0
/// while running (a proc-connector uid event). The uid pair comes from /proc/&lt;pid&gt;/status read at exec, so a
/// program that is gone before it is read is missed. A worker that itself runs as root gains nothing and raises
/// nothing. Only the first process of a root subtree is reported (its children are already root).
/// </summary>
internal sealed class SudoDetector(AncestryResolver ancestry, RunnerProcesses runner)
{
    public Finding? Inspect(ExecObservation o)
    {
        var p = o.Process;
        if (p.Euid != 0)
        {
            return null;
        }

        var parents = ancestry.Parents(p.Pid);
        var worker = parents.FirstOrDefault(a => runner.IsWorker(a.Pid));
        if (worker is null)
        {
            return null;
        }

        var parentEuid = parents.Count > 0 ? parents[0].Euid : -1;
        var gained = (p.Uid > 0) || (parentEuid > 0);
        if (!gained)
        {
            return null;
        }

        return Create(p, parentEuid, worker.Pid, "exec");
    }

    /// <summary>A running process changed its ids (proc connector uid event).</summary>
    public Finding? InspectUidChange(ProcessEntry before, int ruid, int euid)
    {
        if (euid != 0 || before.Euid == 0 || before.Euid < 0)
        {
            return null;
        }

        var worker = ancestry.Parents(before.Pid).FirstOrDefault(a => runner.IsWorker(a.Pid));
        return worker is null ? null : Create(before with { Uid = ruid, Euid = euid }, before.Euid, worker.Pid, "setuid");
    }

    private static Finding Create(ProcessEntry p, int parentEuid, int workerPid, string how)
    {
        var inv = CultureInfo.InvariantCulture;
        return new Finding(
            DetectionTypes.SudoUsed,
            DetectionTypes.Medium,
            $"{p.Name} (pid {p.Pid}) runs as root (uid {p.Uid.ToString(inv)}, euid 0) below the runner worker (pid {workerPid.ToString(inv)})",
            new Dictionary<string, string>
            {
                ["uid"] = p.Uid.ToString(inv),
                ["euid"] = "0",
                ["parentEuid"] = parentEuid.ToString(inv),
                ["workerPid"] = workerPid.ToString(inv),
                ["how"] = how,
            },
            p.Pid,
            "pid:" + p.Pid.ToString(inv));
    }
}
