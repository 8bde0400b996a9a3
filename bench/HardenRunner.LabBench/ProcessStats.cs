using System.Globalization;

namespace HardenRunner.LabBench;

/// <summary>What /proc says about a process and the machine: CPU time, peak and current resident set.</summary>
internal static class ProcessStats
{
    /// <summary>User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 1/100 s); 0 when it is gone.</summary>
    public static double CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    /// <summary>VmHWM (peak resident set) of a process in MiB, or NaN when it is gone.</summary>
    public static double PeakRssMiB(int pid) => StatusKiB(pid, "VmHWM:") / 1024.0;

    /// <summary>VmRSS (current resident set) of a process in MiB, or NaN when it is gone.</summary>
    public static double RssMiB(int pid) => StatusKiB(pid, "VmRSS:") / 1024.0;

    /// <summary>The 1, 5 and 15 minute load averages (other work on the machine competes for its cores).</summary>
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    /// <summary>The whole machine's busy and total jiffies (/proc/stat, first line), for utilisation over an interval.</summary>
    public static (long Busy, long Total) MachineJiffies()
    {
        var first = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long total = 0, idle = 0;
        for (var i = 1; i < first.Length; i++)
        {
            var v = long.Parse(first[i], CultureInfo.InvariantCulture);
            total += v;
            if (i is 4 or 5)
            {
                idle += v; // idle, iowait
            }
        }

        return (total - idle, total);
    }

    private static double StatusKiB(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? double.NaN : double.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }
}

/// <summary>CPU used by the proxy under test, the lab's web server and the whole machine during one measurement.</summary>
internal sealed class CpuMeter
{
    private readonly int _proxyPid;
    private readonly int _serverPid;
    private readonly double _proxyBefore;
    private readonly double _serverBefore;
    private readonly (long Busy, long Total) _machineBefore;

    private CpuMeter(int proxyPid, int serverPid)
    {
        _proxyPid = proxyPid;
        _serverPid = serverPid;
        _proxyBefore = proxyPid > 0 ? ProcessStats.CpuSeconds(proxyPid) : 0;
        _serverBefore = ProcessStats.CpuSeconds(serverPid);
        _machineBefore = ProcessStats.MachineJiffies();
    }

    public static CpuMeter Start(int proxyPid, int serverPid) => new(proxyPid, serverPid);

    public CpuUse Stop()
    {
        var machine = ProcessStats.MachineJiffies();
        var total = Math.Max(1, machine.Total - _machineBefore.Total);
        return new CpuUse(
            _proxyPid > 0 ? ProcessStats.CpuSeconds(_proxyPid) - _proxyBefore : 0,
            ProcessStats.CpuSeconds(_serverPid) - _serverBefore,
            (double)(machine.Busy - _machineBefore.Busy) / total);
    }
}

/// <summary>CPU seconds of the proxy and the server, and the machine's busy share (0–1, all cores) over an interval.</summary>
internal readonly record struct CpuUse(double ProxySeconds, double ServerSeconds, double MachineBusy);
