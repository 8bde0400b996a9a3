using HardenRunner.Events;

namespace HardenRunner.Monitoring;

/// <summary>
/// Walks a process's parents, nearest first, from the process table; a parent the table does not know (it started
/// before the monitor) is read from /proc once and added to the table. Depth is bounded and cycles (pid reuse) stop
/// the walk.
/// </summary>
internal sealed class AncestryResolver(ProcessTable table, TimeProvider time, int maxCmdlineBytes)
{
    public const int MaxDepth = 64;

    /// <summary>The entry for <paramref name="pid"/>: from the table, else read from /proc (and remembered), else null.</summary>
    public ProcessEntry? Find(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        if (table.TryGet(pid, out var entry))
        {
            return entry;
        }

        if (!ProcFs.TryReadStat(pid, out var ppid, out _, out var comm))
        {
            return null;
        }

        var hasStatus = ProcFs.TryReadStatus(pid, out var status);
        var discovered = new ProcessEntry(
            pid,
            ppid,
            ProcFs.ReadExe(pid),
            ProcFs.ReadCmdline(pid, maxCmdlineBytes),
            comm,
            hasStatus ? status.Uid : -1,
            hasStatus ? status.Euid : -1,
            time.GetUtcNow(),
            StepEnvironment.Unknown,
            Execed: false);
        return table.GetOrAdd(discovered);
    }

    /// <summary>The parents of <paramref name="pid"/>, nearest first, up to pid 1.</summary>
    public List<ProcessEntry> Parents(int pid)
    {
        var chain = new List<ProcessEntry>();
        var seen = new HashSet<int> { pid };
        var current = Find(pid);
        while (current is not null && chain.Count < MaxDepth)
        {
            var parent = current.Ppid;
            if (parent <= 0 || !seen.Add(parent))
            {
                break;
            }

            current = Find(parent);
            if (current is not null)
            {
                chain.Add(current);
            }
        }

        return chain;
    }

    /// <summary>The report's ancestor list: pid and exe of each parent, nearest first.</summary>
    public List<AncestorInfo> Ancestors(int pid)
    {
        var parents = Parents(pid);
        var list = new List<AncestorInfo>(parents.Count);
        foreach (var p in parents)
        {
            list.Add(new AncestorInfo(p.Pid, p.Exe ?? p.Comm));
        }

        return list;
    }

    /// <summary>The nearest parent that satisfies <paramref name="match"/>, or null.</summary>
    public ProcessEntry? NearestParent(int pid, Func<ProcessEntry, bool> match)
    {
        foreach (var p in Parents(pid))
        {
            if (match(p))
            {
                return p;
            }
        }

        return null;
    }
}
