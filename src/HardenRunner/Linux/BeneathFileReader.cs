using System.Runtime.InteropServices;
using System.Text;
using HardenRunner.Monitoring;

namespace HardenRunner.Linux;

/// <summary>
/// Reads a file that someone else controls (a job's workspace, a container's root) without letting that someone
/// point the read elsewhere: <c>openat2(2)</c> relative to the directory with resolve flags that refuse symbolic
/// links, magic links and escapes, <c>O_NONBLOCK</c> so a FIFO cannot hang the reader, and a byte limit.
/// </summary>
internal static unsafe partial class BeneathFileReader
{
    /// <summary>Refuse /proc magic links (e.g. /proc/self/fd/N).</summary>
    public const ulong ResolveNoMagiclinks = 0x02;

    /// <summary>Refuse every symbolic link on the way.</summary>
    public const ulong ResolveNoSymlinks = 0x04;

    /// <summary>Refuse any path that leaves the directory (absolute paths, "..").</summary>
    public const ulong ResolveBeneath = 0x08;

    /// <summary>Resolve as if the directory were the root (absolute links stay inside it).</summary>
    public const ulong ResolveInRoot = 0x10;

    private const int ONonblock = 0x800;

    // openat2(2): the same number on x86_64 and aarch64 (the unified table from 5.6 on)
    private const long SysOpenat2 = 437;
    private const int Eloop = 40;
    private const int Exdev = 18;
    private const int Enoent = 2;

    /// <summary>
    /// Up to <paramref name="maxBytes"/> bytes of <paramref name="relative"/> under <paramref name="directory"/>.
    /// Returns <see cref="BeneathRead.Missing"/> when it does not exist, <see cref="BeneathRead.Refused"/> (with the
    /// reason) when a link or an escape was in the way, it is not readable or is larger than the limit.
    /// </summary>
    public static BeneathRead Read(string directory, string relative, int maxBytes, ulong resolve = ResolveBeneath | ResolveNoSymlinks | ResolveNoMagiclinks)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(relative);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        var dirFd = -1;
        var fd = -1;
        try
        {
            var dirPath = Encoding.UTF8.GetBytes(directory + "\0");
            fixed (byte* dp = dirPath)
            {
                dirFd = MonitorInterop.Open(dp, MonitorInterop.OPath | LinuxInterop.OCloexec);
            }

            if (dirFd < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                return error == Enoent ? BeneathRead.Missing : BeneathRead.Refused($"cannot open {directory} (errno {error})");
            }

            fd = OpenBeneath(dirFd, relative, LinuxInterop.OReadOnly | LinuxInterop.OCloexec | ONonblock, resolve);
            if (fd < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                return error switch
                {
                    Enoent => BeneathRead.Missing,
                    Eloop or Exdev => BeneathRead.Refused("a symbolic link, or a path leaving the directory, is in the way; it is not followed"),
                    _ => BeneathRead.Refused($"cannot open it (errno {error})"),
                };
            }

            var buffer = new byte[maxBytes + 1];
            var total = 0;
            fixed (byte* b = buffer)
            {
                while (total < buffer.Length)
                {
                    var r = MonitorInterop.Read(fd, b + total, (nuint)(buffer.Length - total));
                    if (r < 0 && Marshal.GetLastPInvokeError() == LinuxInterop.Eintr)
                    {
                        continue;
                    }

                    if (r < 0)
                    {
                        return BeneathRead.Refused($"cannot read it (errno {Marshal.GetLastPInvokeError()})");
                    }

                    if (r == 0)
                    {
                        break;
                    }

                    total += (int)r;
                }
            }

            return total > maxBytes
                ? BeneathRead.Refused($"it is larger than {maxBytes} bytes")
                : new BeneathRead(buffer.AsSpan(0, total).ToArray(), null);
        }
        finally
        {
            if (fd >= 0)
            {
                _ = LinuxInterop.Close(fd);
            }

            if (dirFd >= 0)
            {
                _ = LinuxInterop.Close(dirFd);
            }
        }
    }

    /// <summary>openat2 of <paramref name="relative"/> under <paramref name="dirFd"/>; the fd, or -1 with errno set.</summary>
    public static int OpenBeneath(int dirFd, string relative, int flags, ulong resolve)
    {
        var path = Encoding.UTF8.GetBytes(relative + "\0");
        var how = new OpenHow { Flags = (ulong)flags, Mode = 0, Resolve = resolve };
        fixed (byte* pp = path)
        {
            return (int)Syscall(SysOpenat2, dirFd, pp, &how, (nuint)sizeof(OpenHow));
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, int dirfd, byte* path, OpenHow* how, nuint size);
}

/// <summary>The outcome of <see cref="BeneathFileReader.Read"/>: the bytes, or nothing (missing), or a refusal with its reason.</summary>
internal sealed record BeneathRead(byte[]? Content, string? Refusal)
{
    public static readonly BeneathRead Missing = new(null, null);

    public bool Exists => Content is not null || Refusal is not null;

    public static BeneathRead Refused(string reason) => new(null, reason);
}
