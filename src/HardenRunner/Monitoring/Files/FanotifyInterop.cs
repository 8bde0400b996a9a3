using System.Runtime.InteropServices;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// fanotify(7), open_by_handle_at(2), statfs(2), realpath(3) and readlink(2) for the file integrity monitor.
/// Constants are from &lt;linux/fanotify.h&gt;; errors come back through errno (<see cref="Marshal.GetLastPInvokeError"/>).
/// </summary>
internal static unsafe partial class FanotifyInterop
{
    // fanotify_init flags
    public const uint FanCloexec = 0x1;
    public const uint FanNonblock = 0x2;
    public const uint FanClassNotif = 0x0;
    public const uint FanUnlimitedQueue = 0x10;
    public const uint FanReportFid = 0x200;
    public const uint FanReportDirFid = 0x400;
    public const uint FanReportName = 0x800;
    public const uint FanReportDfidName = FanReportDirFid | FanReportName;

    // fanotify_mark flags
    public const uint FanMarkAdd = 0x1;
    public const uint FanMarkRemove = 0x2;
    public const uint FanMarkInode = 0x0;
    public const uint FanMarkMount = 0x10;
    public const uint FanMarkFilesystem = 0x100;

    // event mask bits
    public const ulong FanModify = 0x2;
    public const ulong FanCloseWrite = 0x8;
    public const ulong FanMovedFrom = 0x40;
    public const ulong FanMovedTo = 0x80;
    public const ulong FanCreate = 0x100;
    public const ulong FanDelete = 0x200;
    public const ulong FanQOverflow = 0x4000;
    public const ulong FanEventOnChild = 0x0800_0000;
    public const ulong FanOnDir = 0x4000_0000;

    // info record types
    public const byte InfoTypeFid = 1;
    public const byte InfoTypeDfidName = 2;
    public const byte InfoTypeDfid = 3;

    public const int FanotifyMetadataVersion = 3;
    public const int FanNoFd = -1;

    // open(2) flags
    public const int ORdonly = 0x0;
    public const int OLargefile = 0x8000;
    public const int ODirectory = 0x10000;
    public const int OCloexec = 0x80000;
    public const int OPath = 0x200000;
    public const int ONonblock = 0x800;
    public const int ONoctty = 0x100;
    public const int ONofollow = 0x20000;

    // statx
    public const int AtEmptyPath = 0x1000;
    public const uint StatxType = 0x1;
    public const uint StatxMode = 0x2;
    public const uint StatxMtime = 0x40;
    public const uint StatxSize = 0x200;
    public const int StatxBufferSize = 256;
    public const int StatxModeOffset = 28;
    public const int StatxSizeOffset = 40;
    public const int StatxMtimeOffset = 112;
    public const int SIfmt = 0xF000;
    public const int SIfreg = 0x8000;
    public const int SIfdir = 0x4000;

    public const int Eintr = 4;
    public const int Eagain = 11;
    public const int Einval = 22;
    public const int Enoent = 2;
    public const int Estale = 116;
    public const int Eloop = 40;
    public const int Enotdir = 20;

    public const short PollIn = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "fanotify_init", SetLastError = true)]
    public static partial int FanotifyInit(uint flags, uint eventFlags);

    [LibraryImport("libc", EntryPoint = "fanotify_mark", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int FanotifyMark(int fd, uint flags, ulong mask, int dirFd, string? path);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    /// <summary><paramref name="handle"/> points at a <c>struct file_handle</c> (handle_bytes, handle_type, f_handle[]).</summary>
    [LibraryImport("libc", EntryPoint = "open_by_handle_at", SetLastError = true)]
    public static partial int OpenByHandleAt(int mountFd, byte* handle, int flags);

    [LibraryImport("libc", EntryPoint = "readlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint ReadLink(string path, byte* buffer, nuint size);

    [LibraryImport("libc", EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatFs(string path, byte* buffer);

    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial byte* RealPath(string path, byte* resolved);

    public static string ErrorText(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    /// <summary>The filesystem id (statfs f_fsid) of the filesystem holding <paramref name="path"/>, as fanotify reports it.</summary>
    public static FsId FsIdOf(string path)
    {
        // struct statfs on 64-bit Linux (x86_64 and the generic layout of arm64): seven 8-byte words, then f_fsid.
        const int fsidOffset = 7 * 8;
        var buffer = stackalloc byte[256];
        if (StatFs(path, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"statfs {path}: {ErrorText(errno)}");
        }

        return new FsId(*(int*)(buffer + fsidOffset), *(int*)(buffer + fsidOffset + 4));
    }

    /// <summary>The canonical absolute path (symlinks resolved) of an existing <paramref name="path"/>, or null.</summary>
    public static string? Canonical(string path)
    {
        var buffer = stackalloc byte[4096 + 1];
        var result = RealPath(path, buffer);
        return result is null ? null : Marshal.PtrToStringUTF8((nint)result);
    }

    /// <summary>The target of the symlink <paramref name="path"/> (e.g. /proc/self/fd/N), or null when it cannot be read.</summary>
    public static string? ReadLinkText(string path)
    {
        var buffer = stackalloc byte[4096];
        var n = ReadLink(path, buffer, 4096);
        return n <= 0 ? null : System.Text.Encoding.UTF8.GetString(buffer, (int)n);
    }
}

/// <summary>A filesystem id (<c>__kernel_fsid_t</c>) as carried in fanotify FID records and returned by statfs.</summary>
internal readonly record struct FsId(int Val0, int Val1);
