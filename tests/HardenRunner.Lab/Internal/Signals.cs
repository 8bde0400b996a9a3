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

    public static bool IsAlive(int pid) => pid > 0 && (Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() != Esrch);

    private const int Esrch = 3;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
