using System.Runtime.InteropServices;

namespace HardenRunner.Lab.Internal;

/// <summary>kill(2), for signals other than SIGKILL (which Process.Kill sends).</summary>
internal static partial class Signals
{
    public const int SigTerm = 15;
    public const int SigKill = 9;
    public const int SigInt = 2;

    /// <summary>Returns false when the process no longer exists (ESRCH) or cannot be signalled.</summary>
    public static bool Send(int pid, int signal) => pid > 0 && Kill(pid, signal) == 0;

    /// <summary>True while the process exists and is not a zombie (a killed orphan may wait a while to be reaped).</summary>
    public static bool IsAlive(int pid)
    {
        if (pid <= 0 || (Kill(pid, 0) != 0 && Marshal.GetLastPInvokeError() == Esrch))
        {
            return false;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat.LastIndexOf(')') is var end and > 0 && end + 2 < stat.Length ? stat[end + 2] : '?';
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    private const int Esrch = 3;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
