using System.Runtime.InteropServices;
using System.Text;
using HardenRunner.Events;

namespace HardenRunner.Monitoring.Containers;

/// <summary>
/// Names the container a process runs in: runtime and id from <c>/proc/PID/cgroup</c>
/// (<see cref="CgroupContainerParser"/>); then, only for a process in a container, its hostname
/// (<c>/etc/hostname</c> in the process's root — a pod's name by default) and, for a pod, its namespace
/// (<c>/var/run/secrets/kubernetes.io/serviceaccount/namespace</c>). Files in the container are opened with
/// <c>openat2(RESOLVE_IN_ROOT)</c> below <c>/proc/PID/root</c>, so a symlink in the container cannot lead the read
/// to a file of the host; every read is bounded and its text must look like a DNS name, else the field is null.
/// Never throws: a process that is gone or unreadable gives null.
/// </summary>
public static unsafe class ContainerReader
{
    private const int MaxNameBytes = 256;

    /// <summary>The container of process <paramref name="pid"/>, or null (host process, unknown layout, gone).</summary>
    public static ContainerInfo? Read(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        var buffer = new byte[CgroupContainerParser.MaxBytes];
        var n = ProcFs.ReadFile($"/proc/{pid}/cgroup", buffer);
        if (n <= 0 || n == buffer.Length)
        {
            return null; // gone, or larger than any layout this knows: no guess from a truncated file
        }

        var cgroup = CgroupContainerParser.Parse(Encoding.UTF8.GetString(buffer, 0, n));
        if (cgroup is null)
        {
            return null;
        }

        var name = DnsName(ReadInRoot(pid, "etc/hostname"), 253);
        var ns = cgroup.PodUid is null ? null : DnsName(ReadInRoot(pid, "var/run/secrets/kubernetes.io/serviceaccount/namespace"), 63);
        return new ContainerInfo(cgroup.Runtime, cgroup.Id, name, cgroup.PodUid, ns);
    }

    /// <summary>The first line of <paramref name="text"/> when it is an RFC 1123 name of at most <paramref name="max"/> characters.</summary>
    internal static string? DnsName(string? text, int max)
    {
        if (text is null)
        {
            return null;
        }

        var line = text.AsSpan();
        var end = line.IndexOfAny('\n', '\r');
        if (end >= 0)
        {
            line = line[..end];
        }

        line = line.Trim(' ');
        if (line.IsEmpty || line.Length > max || line[0] == '-' || line[0] == '.' || line[^1] == '-' || line[^1] == '.')
        {
            return null;
        }

        foreach (var ch in line)
        {
            if (!char.IsAsciiLetterOrDigit(ch) && ch != '-' && ch != '.')
            {
                return null;
            }
        }

        return line.ToString();
    }

    /// <summary>Up to <see cref="MaxNameBytes"/> bytes of <paramref name="relative"/> resolved inside the process's root, or null.</summary>
    private static string? ReadInRoot(int pid, string relative)
    {
        var rootFd = -1;
        var fd = -1;
        try
        {
            var rootPath = Encoding.UTF8.GetBytes($"/proc/{pid}/root\0");
            fixed (byte* rp = rootPath)
            {
                rootFd = MonitorInterop.Open(rp, MonitorInterop.OPath | Linux.LinuxInterop.OCloexec);
            }

            if (rootFd < 0)
            {
                return null;
            }

            fd = Linux.BeneathFileReader.OpenBeneath(rootFd, relative, Linux.LinuxInterop.OReadOnly | Linux.LinuxInterop.OCloexec, Linux.BeneathFileReader.ResolveInRoot | Linux.BeneathFileReader.ResolveNoMagiclinks);

            if (fd < 0)
            {
                return null;
            }

            var buffer = stackalloc byte[MaxNameBytes];
            var total = 0;
            while (total < MaxNameBytes)
            {
                var r = MonitorInterop.Read(fd, buffer + total, (nuint)(MaxNameBytes - total));
                if (r < 0 && Marshal.GetLastPInvokeError() == Linux.LinuxInterop.Eintr)
                {
                    continue;
                }

                if (r <= 0)
                {
                    break;
                }

                total += (int)r;
            }

            return total == 0 ? null : Encoding.UTF8.GetString(buffer, total);
        }
        finally
        {
            if (fd >= 0)
            {
                _ = Linux.LinuxInterop.Close(fd);
            }

            if (rootFd >= 0)
            {
                _ = Linux.LinuxInterop.Close(rootFd);
            }
        }
    }
}
