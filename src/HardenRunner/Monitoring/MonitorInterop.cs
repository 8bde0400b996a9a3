using System.Runtime.InteropServices;

namespace HardenRunner.Monitoring;

/// <summary>
/// libc calls the monitors need beyond <see cref="Linux.LinuxInterop"/>: read, readlink, getdents64, fanotify. Errors come back
/// through errno (<see cref="Marshal.GetLastPInvokeError"/>).
/// </summary>
internal static unsafe partial class MonitorInterop
{
    public const int NetlinkConnector = 11;
    public const int NetlinkSockDiag = 4;
    public const int OPath = 0x200000;
    public const int ONofollow = 0x20000;
    public const int Enoent = 2;
    public const int Esrch = 3;
    public const int Econnrefused = 111;

    // fanotify
    public const uint FanCloexec = 0x1;
    public const uint FanNonblock = 0x2;
    public const uint FanClassNotif = 0x0;
    public const uint FanMarkAdd = 0x1;
    public const uint FanMarkRemove = 0x2;
    public const ulong FanAccess = 0x1;
    public const ulong FanOpen = 0x20;
    public const ulong FanQOverflow = 0x4000;
    public const int AtFdcwd = -100;

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true)]
    public static partial int Open(byte* path, int flags);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true)]
    public static partial nint ReadLink(byte* path, byte* buf, nuint size);

    [LibraryImport("libc", EntryPoint = "readlinkat", SetLastError = true)]
    public static partial nint ReadLinkAt(int dirFd, byte* path, byte* buf, nuint size);

    /// <summary>Directory entries as <c>struct linux_dirent64</c> records (glibc 2.30 and later export it).</summary>
    [LibraryImport("libc", EntryPoint = "getdents64", SetLastError = true)]
    public static partial nint GetDents64(int fd, byte* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "fanotify_init", SetLastError = true)]
    public static partial int FanotifyInit(uint flags, uint eventFlags);

    [LibraryImport("libc", EntryPoint = "fanotify_mark", SetLastError = true)]
    public static partial int FanotifyMark(int fd, uint flags, ulong mask, int dirfd, byte* path);

    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    public static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetTid();

    [LibraryImport("libc", EntryPoint = "getpid")]
    public static partial int GetPid();
}
