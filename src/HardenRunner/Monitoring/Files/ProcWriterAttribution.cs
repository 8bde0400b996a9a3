using System.Text;
using HardenRunner.Events;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// A stand-alone writer attribution from /proc: exe, command line and the step from <c>GITHUB_ACTION</c> /
/// <c>GITHUB_ACTION_REPOSITORY</c> in the process's environment or its nearest ancestor's. Used when no attributor is
/// wired in (the process monitor's remembers processes that already exited; this one cannot). Only those two
/// variables are read out of an environment; nothing else is kept.
/// </summary>
public static class ProcWriterAttribution
{
    private const int MaxAncestors = 16;
    private const int MaxCmdlineBytes = 4096;

    public static (ProcessInfo? Process, StepInfo? Step) Attribute(int pid)
    {
        if (pid <= 0)
        {
            return (null, null);
        }

        var exe = ReadLink($"/proc/{pid}/exe");
        var cmdline = ReadCmdline(pid);
        var ancestors = new List<AncestorInfo>();
        StepInfo? step = null;
        var current = pid;
        for (var depth = 0; depth <= MaxAncestors && current > 0; depth++)
        {
            step ??= ReadStep(current);
            var parent = ParentOf(current);
            if (parent <= 0)
            {
                break;
            }

            ancestors.Add(new AncestorInfo(parent, ReadLink($"/proc/{parent}/exe")));
            current = parent;
        }

        var process = exe is null && cmdline is null && ancestors.Count == 0 ? new ProcessInfo(pid, null, null) : new ProcessInfo(pid, exe, cmdline, ancestors);
        return (process, step);
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return File.ResolveLinkTarget(path, returnFinalTarget: false)?.FullName;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadCmdline(int pid)
    {
        try
        {
            var bytes = File.ReadAllBytes($"/proc/{pid}/cmdline");
            if (bytes.Length == 0)
            {
                return null;
            }

            var n = Math.Min(bytes.Length, MaxCmdlineBytes);
            return Encoding.UTF8.GetString(bytes, 0, n).TrimEnd('\0').Replace('\0', ' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static StepInfo? ReadStep(int pid)
    {
        try
        {
            string? action = null;
            string? uses = null;
            foreach (var entry in File.ReadAllText($"/proc/{pid}/environ").Split('\0'))
            {
                if (entry.StartsWith("GITHUB_ACTION=", StringComparison.Ordinal))
                {
                    action = entry[14..];
                }
                else if (entry.StartsWith("GITHUB_ACTION_REPOSITORY=", StringComparison.Ordinal))
                {
                    uses = entry[25..];
                }
            }

            return action is null ? null : new StepInfo(action, string.IsNullOrEmpty(uses) ? null : uses);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static int ParentOf(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            var fields = stat[(close + 2)..].Split(' ');
            return fields.Length > 1 && int.TryParse(fields[1], out var ppid) ? ppid : 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentOutOfRangeException)
        {
            return 0;
        }
    }
}
