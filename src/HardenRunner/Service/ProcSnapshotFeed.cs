using HardenRunner.Monitoring;

namespace HardenRunner.Service;

/// <summary>
/// Feeds <see cref="JobTracker"/> from successive /proc listings: a pid (with its start time) not seen before is a
/// start, one gone is an exit. A runner worker lives as long as its job (minutes), so a listing every few hundred
/// milliseconds sees every one; processes shorter than the interval may be missed, which does not matter here.
/// </summary>
internal sealed class ProcSnapshotFeed
{
    private Dictionary<int, (ulong StartTicks, string Name, int Ppid)> _known = [];

    /// <summary>Lists /proc once and returns the tracker's transitions for what changed.</summary>
    public List<JobTransition> Poll(JobTracker tracker)
    {
        var now = new Dictionary<int, (ulong StartTicks, string Name, int Ppid)>(_known.Count + 16);
        var started = new List<(int Pid, int Ppid, ulong StartTicks, string Name)>();
        foreach (var pid in ProcFs.ListPids())
        {
            if (!ProcFs.TryReadStat(pid, out var ppid, out var startTicks, out var comm))
            {
                continue;
            }

            if (_known.TryGetValue(pid, out var old) && old.StartTicks == startTicks && (comm is null || old.Name.StartsWith(comm, StringComparison.Ordinal)))
            {
                now[pid] = old with { Ppid = ppid };
                continue;
            }

            // the executable's file name (comm is cut at 15 characters); comm when the link is unreadable
            var exe = ProcFs.ReadExe(pid);
            var name = exe is null ? comm ?? "" : CommandLine.BaseName(exe);
            now[pid] = (startTicks, name, ppid);
            started.Add((pid, ppid, startTicks, name));
        }

        var transitions = new List<JobTransition>();
        foreach (var pid in _known.Keys)
        {
            if (!now.ContainsKey(pid))
            {
                transitions.AddRange(tracker.OnExited(pid));
            }
        }

        foreach (var (pid, ppid, startTicks, name) in started)
        {
            var parent = now.TryGetValue(ppid, out var p) ? p.Name : null;
            transitions.AddRange(tracker.OnStarted(new ProcessStarted(pid, ppid, startTicks, name, parent)));
        }

        _known = now;
        return transitions;
    }

    /// <summary>The processes below <paramref name="pid"/> in the last listing (children first, then theirs), at most <paramref name="max"/>.</summary>
    public List<int> DescendantsOf(int pid, int max = 4096)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var (p, info) in _known)
        {
            if (!children.TryGetValue(info.Ppid, out var list))
            {
                children[info.Ppid] = list = [];
            }

            list.Add(p);
        }

        var result = new List<int>();
        var queue = new Queue<int>();
        queue.Enqueue(pid);
        while (queue.Count > 0 && result.Count < max)
        {
            if (!children.TryGetValue(queue.Dequeue(), out var kids))
            {
                continue;
            }

            kids.Sort();
            foreach (var k in kids)
            {
                if (result.Count < max && k != pid)
                {
                    result.Add(k);
                    queue.Enqueue(k);
                }
            }
        }

        return result;
    }
}
