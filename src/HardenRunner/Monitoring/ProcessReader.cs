using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;

namespace HardenRunner.Monitoring;

/// <summary>
/// Captures a process from /proc at the moment it is seen (exe, command line, status). Runs on the
/// monitor's hot path, so it reads a handful of small files and nothing else. A process that is already gone yields
/// an entry with nulls (never a guess).
/// </summary>
internal sealed class ProcessReader(int maxCmdlineBytes)
{
    public const string ActionVariable = "GITHUB_ACTION";
    public const string ActionRepositoryVariable = "GITHUB_ACTION_REPOSITORY";

    /// <summary>Environments larger than this are read only this far (GitHub's runner environment is ~10–60 KB).</summary>
    private const int MaxEnvironBytes = 512 * 1024;

    public int MaxCmdlineBytes { get; } = maxCmdlineBytes;

    /// <summary>
    /// Reads the process now, most perishable and most useful first (exe, command line, uids); the environment only
    /// when <paramref name="withEnvironment"/> (otherwise the step is resolved later, from the process if it still
    /// runs or else from its parents, which share its environment unless it was replaced).
    /// <paramref name="knownParent"/> (from a fork event) wins over status's PPid.
    /// </summary>
    public ProcessEntry Capture(int pid, DateTimeOffset start, int? knownParent, bool withEnvironment = false)
    {
        var exe = ProcFs.ReadExe(pid);
        var cmdline = ProcFs.ReadCmdline(pid, MaxCmdlineBytes);
        var hasStatus = ProcFs.TryReadStatus(pid, out var status);
        var step = withEnvironment ? ReadStepEnvironment(pid) : StepEnvironment.Unknown;
        return new ProcessEntry(
            pid,
            knownParent ?? (hasStatus ? status.PPid : 0),
            exe,
            cmdline,
            hasStatus ? status.Name : null,
            hasStatus ? status.Uid : -1,
            hasStatus ? status.Euid : -1,
            start,
            step,
            Execed: true);
    }

    /// <summary>
    /// GITHUB_ACTION and GITHUB_ACTION_REPOSITORY from /proc/&lt;pid&gt;/environ (the environment the program was
    /// started with). Nothing else of the environment is kept: the buffer is cleared before it goes back to the pool.
    /// An environment this process may not read (EACCES: e.g. pid 1 of a sandbox, another user namespace's process)
    /// names no step, and says so for good (<see cref="StepEnvironment.Absent"/>): it stays unreadable while the entry
    /// lives (an exec makes a new entry), so it is not read again at every attribution of its descendants. A process
    /// that is gone stays <see cref="StepEnvironment.Unknown"/>.
    /// </summary>
    public static StepEnvironment ReadStepEnvironment(int pid)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        var length = 0;
        try
        {
            length = ProcFs.ReadFile(ProcFs.PidPath(pid, "environ"), buffer);
            if (length < 0 && Marshal.GetLastPInvokeError() == Linux.LinuxInterop.Eacces)
            {
                return StepEnvironment.Absent;
            }

            if (length == buffer.Length && length < MaxEnvironBytes)
            {
                // larger than the first guess: read again with room for the whole (bounded) environment
                Array.Clear(buffer, 0, length);
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = ArrayPool<byte>.Shared.Rent(MaxEnvironBytes);
                length = ProcFs.ReadFile(ProcFs.PidPath(pid, "environ"), buffer.AsSpan(0, MaxEnvironBytes));
            }

            return length < 0 ? StepEnvironment.Unknown : ParseStepEnvironment(buffer.AsSpan(0, length));
        }
        finally
        {
            Array.Clear(buffer, 0, Math.Max(0, length));
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Finds the step variables in a NUL-separated environment block.</summary>
    public static StepEnvironment ParseStepEnvironment(ReadOnlySpan<byte> environ)
    {
        ReadOnlySpan<byte> action = "GITHUB_ACTION="u8;
        ReadOnlySpan<byte> repository = "GITHUB_ACTION_REPOSITORY="u8;
        string? a = null, r = null;
        foreach (var range in environ.Split((byte)0))
        {
            var entry = environ[range];
            if (entry.StartsWith(action))
            {
                a = Encoding.UTF8.GetString(entry[action.Length..]);
            }
            else if (entry.StartsWith(repository))
            {
                r = Encoding.UTF8.GetString(entry[repository.Length..]);
            }
        }

        return a is null ? StepEnvironment.Absent : new StepEnvironment(StepEnvState.Present, a, string.IsNullOrEmpty(r) ? null : r);
    }
}
