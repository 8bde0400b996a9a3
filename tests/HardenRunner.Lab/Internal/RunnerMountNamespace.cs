using System.Text;

namespace HardenRunner.Lab.Internal;

/// <summary>
/// The runner's private mount namespace, kept alive by a holder process (<c>sleep infinity</c>) that sits in the
/// runner network namespace. Inside it, each private directory is an overlay whose upper layer lives on a tmpfs
/// mounted only in this namespace: whatever the appliance or a job writes to /etc (resolv.conf, /etc/ssl,
/// ca-certificates.conf, sudoers …) or /usr/local (share/ca-certificates …) stays inside the lab and disappears with
/// it. /etc/resolv.conf is replaced by one that points to the lab DNS.
/// </summary>
internal sealed class RunnerMountNamespace
{
    private RunnerMountNamespace(LabProcess holder) => Holder = holder;

    public LabProcess Holder { get; }

    /// <summary>For <c>nsenter --mount=…</c>.</summary>
    public string Path => Topology.ProcPath(Holder.Pid, "mnt");

    public static IReadOnlyList<string> Validate(IEnumerable<string> extra, string stateDirectory)
    {
        var directories = new List<string> { "/etc", "/usr/local" };
        foreach (var directory in extra)
        {
            var full = System.IO.Path.GetFullPath(directory).TrimEnd('/');
            if (full.Length == 0 || full.IndexOfAny([',', ':', ' ', '\'', '"', '\\', '\n', '\t']) >= 0)
            {
                throw new ArgumentException($"private directory '{directory}' is / or contains characters an overlay mount cannot take");
            }

            if ((stateDirectory + "/").StartsWith(full + "/", StringComparison.Ordinal))
            {
                throw new ArgumentException($"private directory '{directory}' contains the lab's own state directory {stateDirectory}");
            }

            if (!Directory.Exists(full))
            {
                throw new ArgumentException($"private directory '{directory}' does not exist");
            }

            if (!directories.Contains(full))
            {
                directories.Add(full);
            }
        }

        return directories;
    }

    public static async Task<RunnerMountNamespace> CreateAsync(
        string runnerNetns,
        string privateRoot,
        IReadOnlyList<string> directories,
        string resolvConf,
        Action<LabProcess> track,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(privateRoot);
        var holder = LabProcess.Start(
            "ip",
            ["netns", "exec", runnerNetns, "unshare", "--mount", "--propagation", "private", "--", "sleep", "infinity"],
            null,
            null,
            null);
        track(holder);
        await WaitUntilSleepingAsync(holder, timeout, cancellationToken).ConfigureAwait(false);

        var script = new StringBuilder("set -e\n");
        script.Append("mount -t tmpfs -o mode=0700,size=1g hrlab-private ").Append(Tool.ShellQuote(privateRoot)).Append('\n');
        for (var i = 0; i < directories.Count; i++)
        {
            var upper = $"{privateRoot}/{i}/upper";
            var work = $"{privateRoot}/{i}/work";
            script.Append("mkdir -p ").Append(Tool.ShellQuote(upper)).Append(' ').Append(Tool.ShellQuote(work)).Append('\n');
            script.Append("mount -t overlay hrlab-overlay -o ")
                .Append(Tool.ShellQuote($"lowerdir={directories[i]},upperdir={upper},workdir={work}"))
                .Append(' ').Append(Tool.ShellQuote(directories[i])).Append('\n');
        }

        // the lower /etc/resolv.conf may be a symlink into /run: replace it inside the overlay by a plain file
        script.Append("rm -f /etc/resolv.conf\ncat > /etc/resolv.conf\n");
        await Tool.RunAsync(
            "nsenter",
            [$"--mount={Topology.ProcPath(holder.Pid, "mnt")}", "--", "/bin/sh", "-c", script.ToString()],
            resolvConf,
            timeout,
            cancellationToken).ConfigureAwait(false);
        return new RunnerMountNamespace(holder);
    }

    private static async Task WaitUntilSleepingAsync(LabProcess holder, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // ip netns exec → unshare → sleep all exec in place: once the pid runs sleep, both unshares are done
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (holder.HasExited)
            {
                throw new LabException($"the runner mount-namespace holder exited early: {holder}\n{holder.StandardError}");
            }

            string comm;
            try
            {
                comm = (await File.ReadAllTextAsync($"/proc/{holder.Pid}/comm", cancellationToken).ConfigureAwait(false)).Trim();
            }
            catch (IOException)
            {
                comm = "";
            }

            if (comm == "sleep")
            {
                return;
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }

        throw new LabException($"the runner mount-namespace holder did not start within {timeout}: {holder}");
    }
}
