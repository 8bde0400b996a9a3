using System.Globalization;

namespace HardenRunner.Monitoring.Detectors;

/// <summary>
/// privileged-container: a <c>docker</c>, <c>podman</c> or <c>nerdctl</c> command line that runs, creates or execs into
/// a container with <c>--privileged</c> or with one of the host's namespaces (<c>--pid=host</c>, <c>--ipc=host</c>,
/// <c>--userns=host</c>, <c>--uts=host</c>, <c>--cgroupns=host</c>, <c>--network=host</c>). The client is recognised by
/// its executable, kernel name or first argument (a script named <c>docker</c> runs as <c>sh /path/docker …</c>); options
/// are read up to the image name, so flags of the container's own command do not count. Seen at exec, so no daemon is
/// needed — and nothing is seen of containers started through the API socket, compose files or Kubernetes.
/// </summary>
internal static class PrivilegedContainerDetector
{
    private static readonly HashSet<string> Clients = new(StringComparer.OrdinalIgnoreCase) { "docker", "podman", "nerdctl" };

    // options of run/create/exec that take no value (everything else takes one unless written --opt=value)
    private static readonly HashSet<string> BooleanOptions = new(StringComparer.Ordinal)
    {
        "--privileged", "-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--init", "-P", "--publish-all",
        "--read-only", "--no-healthcheck", "--oom-kill-disable", "--sig-proxy", "-q", "--quiet", "--disable-content-trust",
        "--help", "--replace", "--rmi", "--systemd", "--tls-verify", "--http-proxy", "--no-hosts", "--read-only-tmpfs",
    };

    private static readonly HashSet<char> ShortValueOptions = ['a', 'c', 'e', 'h', 'l', 'm', 'p', 'u', 'v', 'w'];

    // option → severity when its value is "host"
    private static readonly Dictionary<string, string> HostNamespaceOptions = new(StringComparer.Ordinal)
    {
        ["--pid"] = DetectionTypes.High,
        ["--ipc"] = DetectionTypes.High,
        ["--userns"] = DetectionTypes.High,
        ["--uts"] = DetectionTypes.Medium,
        ["--cgroupns"] = DetectionTypes.Medium,
        ["--network"] = DetectionTypes.Medium,
        ["--net"] = DetectionTypes.Medium,
    };

    public static Finding? Inspect(ExecObservation o)
    {
        var p = o.Process;
        if (p.Cmdline is not { Length: > 0 } cmdline)
        {
            return null;
        }

        var args = CommandLine.Split(cmdline);
        var start = ClientArgumentIndex(p, args);
        if (start < 0)
        {
            return null;
        }

        var reasons = Analyse(args, start + 1, out var severity, out var subcommand);
        if (reasons.Count == 0)
        {
            return null;
        }

        var client = CommandLine.BaseName(args[start]);
        return new Finding(
            DetectionTypes.PrivilegedContainer,
            severity,
            $"{client} {subcommand} with {string.Join(", ", reasons)} (pid {p.Pid})",
            new Dictionary<string, string>
            {
                ["client"] = client,
                ["subcommand"] = subcommand,
                ["options"] = string.Join(" ", reasons),
            },
            p.Pid,
            "pid:" + p.Pid.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Index of the docker-like argument (argv[0], or argv[1] for a script run by its interpreter), else -1.</summary>
    internal static int ClientArgumentIndex(ProcessEntry p, List<string> args)
    {
        if (args.Count == 0)
        {
            return -1;
        }

        if (Clients.Contains(CommandLine.BaseName(args[0])))
        {
            return 0;
        }

        if (args.Count > 1 && Clients.Contains(CommandLine.BaseName(args[1])) && (Clients.Contains(p.Comm ?? "") || IsInterpreter(args[0])))
        {
            return 1;
        }

        // argv[0] rewritten, but the program is a docker client
        return Clients.Contains(p.Name) || Clients.Contains(p.Comm ?? "") ? 0 : -1;
    }

    /// <summary>The privileged options of a run/create/exec, read from <paramref name="from"/> up to the image.</summary>
    internal static List<string> Analyse(List<string> args, int from, out string severity, out string subcommand)
    {
        severity = DetectionTypes.Medium;
        subcommand = "";
        var reasons = new List<string>();
        var i = SkipGlobalOptions(args, from);
        if (i < args.Count && args[i] is "container")
        {
            i++;
        }

        if (i >= args.Count || args[i] is not ("run" or "create" or "exec"))
        {
            return reasons;
        }

        subcommand = args[i++];
        for (; i < args.Count; i++)
        {
            var a = args[i];
            if (a == "--")
            {
                break;
            }

            if (!a.StartsWith('-') || a == "-")
            {
                break; // the image (or container name for exec): what follows is the container's command
            }

            string name = a, value = "";
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                name = a[..eq];
                value = a[(eq + 1)..];
            }
            else if (!IsBoolean(a) && i + 1 < args.Count)
            {
                value = args[++i];
            }

            if (name == "--privileged" && (eq < 0 || value.Equals("true", StringComparison.OrdinalIgnoreCase)))
            {
                reasons.Add("--privileged");
                severity = DetectionTypes.High;
            }
            else if (HostNamespaceOptions.TryGetValue(name, out var s) && value.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                reasons.Add(name + "=host");
                if (s == DetectionTypes.High)
                {
                    severity = DetectionTypes.High;
                }
            }
        }

        return reasons;
    }

    private static bool IsBoolean(string option)
    {
        if (BooleanOptions.Contains(option))
        {
            return true;
        }

        // bundled short flags such as -it, -dit: boolean unless the last one takes a value
        return option.Length >= 2 && option[0] == '-' && option[1] != '-' && !ShortValueOptions.Contains(option[^1]);
    }

    private static int SkipGlobalOptions(List<string> args, int i)
    {
        while (i < args.Count && args[i].StartsWith('-'))
        {
            var a = args[i];
            var takesValue = a is "-H" or "--host" or "-c" or "--context" or "--config" or "-l" or "--log-level"
                or "--tlscacert" or "--tlscert" or "--tlskey" or "--root" or "--runroot" or "--storage-driver"
                or "--url" or "--connection" or "--namespace" or "-n" or "--address" or "--cgroup-manager";
            i += takesValue ? 2 : 1;
        }

        return i;
    }

    private static bool IsInterpreter(string argv0) =>
        CommandLine.BaseName(argv0) is "sh" or "bash" or "dash" or "zsh" or "env" or "python" or "python3" or "perl";
}
