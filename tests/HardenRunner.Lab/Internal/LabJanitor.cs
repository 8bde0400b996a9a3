using System.Globalization;
using System.Text.RegularExpressions;

namespace HardenRunner.Lab.Internal;

/// <summary>
/// Names labs (<c>hrlab-{owner pid}-{sequence}</c>) and removes what they leave: its processes, its namespaces, its
/// state directory. At the first lab of a process it also removes labs whose owner process is dead (a crashed or
/// killed earlier run), so a CI machine starts clean. Live labs of other processes are never touched.
/// </summary>
internal static partial class LabJanitor
{
    public const string Prefix = "hrlab-";
    private static readonly TimeSpan KillWait = TimeSpan.FromSeconds(3);
    private static readonly Lazy<Task> StaleSweep = new(SweepStaleAsync);
    private static int _sequence;

    public static string NewId() => string.Create(
        CultureInfo.InvariantCulture, $"{Prefix}{Environment.ProcessId}-{Interlocked.Increment(ref _sequence)}");

    public static string StateRoot => Path.GetTempPath();

    public static Task SweepStaleOnceAsync() => StaleSweep.Value;

    /// <summary>Kills every process still inside the namespace (by PID), then deletes it. Returns problems found.</summary>
    public static async Task<List<string>> RemoveNamespaceAsync(string name)
    {
        var problems = new List<string>();
        if (!File.Exists($"/run/netns/{name}"))
        {
            return problems;
        }

        var pids = await NamespacePidsAsync(name).ConfigureAwait(false);
        foreach (var pid in pids)
        {
            Signals.Send(pid, Signals.SigKill);
        }

        var deadline = DateTime.UtcNow + KillWait;
        while (pids.Any(Signals.IsAlive) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        foreach (var pid in pids.Where(Signals.IsAlive))
        {
            problems.Add($"process {pid} in {name} survived SIGKILL");
        }

        var (description, result) = await Tool.TryRunAsync("ip", ["netns", "delete", name]).ConfigureAwait(false);
        if (!result.Succeeded && File.Exists($"/run/netns/{name}"))
        {
            problems.Add($"{description}: {result}");
        }

        return problems;
    }

    public static List<string> RemoveDirectory(string path)
    {
        var problems = new List<string>();
        for (var attempt = 0; attempt < 3 && Directory.Exists(path); attempt++)
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt == 2)
                {
                    problems.Add($"cannot remove {path}: {e.Message}");
                }

                Thread.Sleep(50);
            }
        }

        return problems;
    }

    public static IEnumerable<string> NamespacesOf(string id) => [id + "-c", id + "-r", id + "-i"];

    private static async Task<List<int>> NamespacePidsAsync(string name)
    {
        var (_, result) = await Tool.TryRunAsync("ip", ["netns", "pids", name]).ConfigureAwait(false);
        return [.. result.StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
            .Where(pid => pid > 0 && pid != Environment.ProcessId)];
    }

    public static async Task SweepStaleAsync()
    {
        var problems = new List<string>();
        if (Directory.Exists("/run/netns"))
        {
            foreach (var file in Directory.GetFiles("/run/netns", Prefix + "*"))
            {
                var name = Path.GetFileName(file);
                var match = NamespacePattern().Match(name);
                if (match.Success && IsDeadOwner(match.Groups[1].Value))
                {
                    problems.AddRange(await RemoveNamespaceAsync(name).ConfigureAwait(false));
                }
            }
        }

        foreach (var directory in Directory.GetDirectories(StateRoot, Prefix + "*"))
        {
            var match = DirectoryPattern().Match(Path.GetFileName(directory));
            if (match.Success && IsDeadOwner(match.Groups[1].Value))
            {
                problems.AddRange(RemoveDirectory(directory));
            }
        }

        foreach (var problem in problems)
        {
            await Console.Error.WriteLineAsync($"lab: stale-lab cleanup: {problem}").ConfigureAwait(false);
        }
    }

    private static bool IsDeadOwner(string pidText)
        => int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
           && pid != Environment.ProcessId
           && !Signals.IsAlive(pid);

    [GeneratedRegex(@"^hrlab-(\d+)-\d+-[ric]$")]
    private static partial Regex NamespacePattern();

    [GeneratedRegex(@"^hrlab-(\d+)-\d+$")]
    private static partial Regex DirectoryPattern();
}
