using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace HardenRunner.Monitoring;

/// <summary>
/// Reads small files and links under /proc without the allocations of the general file APIs (one call per exec on
/// the monitor's hot path). Every method returns "nothing" (null, -1, false) when the process or file is gone or
/// unreadable: a process may exit at any moment and that is never an error.
/// </summary>
internal static unsafe class ProcFs
{
    /// <summary>Root of the proc filesystem; tests never change it, but it keeps paths in one place.</summary>
    public const string Root = "/proc";

    /// <summary>Reads up to <paramref name="buffer"/>.Length bytes of a file; returns the count or -1 when it cannot be opened.</summary>
    public static int ReadFile(string path, Span<byte> buffer)
    {
        Span<byte> p = stackalloc byte[256];
        if (!ToCPath(path, p))
        {
            return -1;
        }

        int fd;
        fixed (byte* pp = p)
        {
            fd = MonitorInterop.Open(pp, Linux.LinuxInterop.OReadOnly | Linux.LinuxInterop.OCloexec);
        }

        if (fd < 0)
        {
            return -1;
        }

        try
        {
            var total = 0;
            fixed (byte* b = buffer)
            {
                while (total < buffer.Length)
                {
                    var n = MonitorInterop.Read(fd, b + total, (nuint)(buffer.Length - total));
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == Linux.LinuxInterop.Eintr)
                        {
                            continue;
                        }

                        return total > 0 ? total : -1;
                    }

                    if (n == 0)
                    {
                        break;
                    }

                    total += (int)n;
                }
            }

            return total;
        }
        finally
        {
            _ = Linux.LinuxInterop.Close(fd);
        }
    }

    /// <summary>The target of a symbolic link (e.g. /proc/&lt;pid&gt;/exe or an fd), or null.</summary>
    public static string? ReadLink(string path)
    {
        Span<byte> target = stackalloc byte[1024];
        var n = ReadLink(path, target);
        return n < 0 ? null : Encoding.UTF8.GetString(target[..n]);
    }

    /// <summary>Reads a link's target into <paramref name="target"/>; returns its length or -1.</summary>
    public static int ReadLink(string path, Span<byte> target)
    {
        Span<byte> p = stackalloc byte[256];
        if (!ToCPath(path, p))
        {
            return -1;
        }

        fixed (byte* pp = p)
        fixed (byte* t = target)
        {
            var n = MonitorInterop.ReadLink(pp, t, (nuint)target.Length);
            return n < 0 ? -1 : (int)n;
        }
    }

    /// <summary>The inode of a socket link target "socket:[12345]", or 0 when the link is something else.</summary>
    public static ulong SocketInode(ReadOnlySpan<byte> linkTarget)
    {
        ReadOnlySpan<byte> prefix = "socket:["u8;
        if (!linkTarget.StartsWith(prefix) || linkTarget.Length < prefix.Length + 2 || linkTarget[^1] != (byte)']')
        {
            return 0;
        }

        return ulong.TryParse(linkTarget[prefix.Length..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var inode) ? inode : 0;
    }

    /// <summary>The socket inode behind /proc/&lt;pid&gt;/fd/&lt;fd&gt;, or 0.</summary>
    public static ulong FdSocketInode(int pid, int fd)
    {
        Span<byte> path = stackalloc byte[64];
        if (!System.Text.Unicode.Utf8.TryWrite(path, CultureInfo.InvariantCulture, $"{Root}/{pid}/fd/{fd}\0", out _))
        {
            return 0;
        }

        Span<byte> target = stackalloc byte[64];
        fixed (byte* p = path)
        fixed (byte* t = target)
        {
            var n = MonitorInterop.ReadLink(p, t, (nuint)target.Length);
            return n <= 0 ? 0 : SocketInode(target[..(int)n]);
        }
    }

    public static string PidPath(int pid, string file) => string.Create(CultureInfo.InvariantCulture, $"{Root}/{pid}/{file}");

    public static string FdPath(int pid, int fd) => string.Create(CultureInfo.InvariantCulture, $"{Root}/{pid}/fd/{fd}");

    /// <summary>Reads /proc/&lt;pid&gt;/status: name, parent, real and effective uid, tracer.</summary>
    public static bool TryReadStatus(int pid, out ProcStatus status)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            var n = ReadFile(PidPath(pid, "status"), buffer);
            if (n <= 0)
            {
                status = default;
                return false;
            }

            return ProcStatus.TryParse(buffer.AsSpan(0, n), out status);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The executable's path (" (deleted)" removed), or null.</summary>
    public static string? ReadExe(int pid)
    {
        var exe = ReadLink(PidPath(pid, "exe"));
        const string Deleted = " (deleted)";
        return exe is not null && exe.EndsWith(Deleted, StringComparison.Ordinal) ? exe[..^Deleted.Length] : exe;
    }

    /// <summary>
    /// The command line, arguments joined by spaces (an argument with spaces or quotes is double-quoted), at most
    /// <paramref name="maxBytes"/> bytes of it read; longer ones end in "…". Null when unreadable; empty for kernel threads.
    /// </summary>
    public static string? ReadCmdline(int pid, int maxBytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(maxBytes + 1);
        try
        {
            var n = ReadFile(PidPath(pid, "cmdline"), buffer.AsSpan(0, maxBytes + 1));
            return n < 0 ? null : CommandLine.Format(buffer.AsSpan(0, Math.Min(n, maxBytes)), truncated: n > maxBytes);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Field 22 of /proc/&lt;pid&gt;/stat (start time in clock ticks after boot) and field 4 (ppid), or false.</summary>
    public static bool TryReadStat(int pid, out int ppid, out ulong startTicks, out string? comm)
    {
        Span<byte> buffer = stackalloc byte[1024];
        var n = ReadFile(PidPath(pid, "stat"), buffer);
        ppid = 0;
        startTicks = 0;
        comm = null;
        if (n <= 0)
        {
            return false;
        }

        var line = buffer[..n];
        var open = line.IndexOf((byte)'(');
        var close = line.LastIndexOf((byte)')');
        if (open < 0 || close < open)
        {
            return false;
        }

        comm = Encoding.UTF8.GetString(line[(open + 1)..close]);
        var rest = line[(close + 1)..];

        // fields after ")": 3 state, 4 ppid, ... 22 starttime
        var field = 2;
        foreach (var range in rest.Split((byte)' '))
        {
            var token = rest[range];
            if (token.IsEmpty)
            {
                continue;
            }

            field++;
            if (field == 4)
            {
                _ = int.TryParse(token, NumberStyles.Integer, CultureInfo.InvariantCulture, out ppid);
            }
            else if (field == 22)
            {
                return ulong.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out startTicks);
            }
        }

        return false;
    }

    /// <summary>The pids under /proc (its numeric directories), in the kernel's order.</summary>
    public static List<int> ListPids()
    {
        var pids = new List<int>(512);
        var collect = new NumericCollector(pids);
        _ = EnumerateNumeric(Root, directoriesOnly: true, ref collect);
        return pids;
    }

    /// <summary>Numeric entries of a directory such as /proc/&lt;pid&gt;/fd or /proc/&lt;pid&gt;/task; empty when it is gone.</summary>
    public static List<int> ListNumeric(string directory)
    {
        var list = new List<int>();
        var collect = new NumericCollector(list);
        _ = EnumerateNumeric(directory, directoriesOnly: false, ref collect);
        return list;
    }

    /// <summary>
    /// Appends (fd, inode) for every socket among <paramref name="pid"/>'s descriptors to <paramref name="into"/>; returns
    /// how many descriptors were read, or -1 when the process is gone or its descriptors cannot be read. One directory
    /// read and one <c>readlinkat</c> per descriptor, relative to the open fd directory: no stat, no path strings.
    /// </summary>
    public static int ReadSocketDescriptors(int pid, List<(int Fd, ulong Inode)> into)
    {
        Span<byte> path = stackalloc byte[48];
        if (!System.Text.Unicode.Utf8.TryWrite(path, CultureInfo.InvariantCulture, $"{Root}/{pid}/fd\0", out _))
        {
            return -1;
        }

        var sockets = new SocketCollector(into);
        fixed (byte* p = path)
        {
            return EnumerateNumeric(p, directoriesOnly: false, ref sockets);
        }
    }

    private static int EnumerateNumeric<TVisitor>(string directory, bool directoriesOnly, ref TVisitor visitor)
        where TVisitor : struct, INumericEntryVisitor
    {
        Span<byte> p = stackalloc byte[256];
        if (!ToCPath(directory, p))
        {
            return -1;
        }

        fixed (byte* pp = p)
        {
            return EnumerateNumeric(pp, directoriesOnly, ref visitor);
        }
    }

    /// <summary>
    /// Reads a directory with getdents64 and hands each entry whose name is a non-negative decimal number to
    /// <paramref name="visitor"/> (with <paramref name="directoriesOnly"/>, only directories and entries of unknown type).
    /// The general directory APIs stat every symbolic link to learn whether it points at a directory, which for
    /// /proc/&lt;pid&gt;/fd is one needless stat per descriptor. Returns the count of entries visited, or -1 when the
    /// directory cannot be opened or read.
    /// </summary>
    private static int EnumerateNumeric<TVisitor>(byte* path, bool directoriesOnly, ref TVisitor visitor)
        where TVisitor : struct, INumericEntryVisitor
    {
        const int DirentNameOffset = 19; // u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, then the name
        const byte DtUnknown = 0;
        const byte DtDir = 4;

        var fd = MonitorInterop.Open(path, Linux.LinuxInterop.OReadOnly | Linux.LinuxInterop.OCloexec);
        if (fd < 0)
        {
            return -1;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            var visited = 0;
            fixed (byte* b = buffer)
            {
                while (true)
                {
                    var n = MonitorInterop.GetDents64(fd, b, (nuint)buffer.Length);
                    if (n < 0)
                    {
                        if (Marshal.GetLastPInvokeError() == Linux.LinuxInterop.Eintr)
                        {
                            continue;
                        }

                        return visited > 0 ? visited : -1; // ENOTDIR, or the process exited while we read
                    }

                    if (n == 0)
                    {
                        return visited;
                    }

                    for (var offset = 0; offset + DirentNameOffset < n;)
                    {
                        var record = b + offset;
                        var length = *(ushort*)(record + 16);
                        if (length <= DirentNameOffset || offset + length > n)
                        {
                            return visited; // never happens with a sane kernel; stop rather than read past the buffer
                        }

                        var type = record[18];
                        var name = new ReadOnlySpan<byte>(record + DirentNameOffset, length - DirentNameOffset);
                        var end = name.IndexOf((byte)0);
                        if (end > 0)
                        {
                            name = name[..end];
                            if ((!directoriesOnly || type is DtDir or DtUnknown) && TryParseDecimal(name, out var value))
                            {
                                visited++;
                                visitor.Visit(fd, value, record + DirentNameOffset);
                            }
                        }

                        offset += length;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            _ = Linux.LinuxInterop.Close(fd);
        }
    }

    private static bool TryParseDecimal(ReadOnlySpan<byte> name, out int value)
    {
        value = 0;
        if (name.IsEmpty || name.Length > 9)
        {
            return false;
        }

        foreach (var c in name)
        {
            if (c is < (byte)'0' or > (byte)'9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }

    private interface INumericEntryVisitor
    {
        /// <param name="directoryFd">The open directory (for *at calls).</param>
        /// <param name="value">The entry's name as a number.</param>
        /// <param name="name">The entry's NUL-terminated name.</param>
        void Visit(int directoryFd, int value, byte* name);
    }

    private readonly struct NumericCollector(List<int> into) : INumericEntryVisitor
    {
        public void Visit(int directoryFd, int value, byte* name) => into.Add(value);
    }

    private readonly struct SocketCollector(List<(int Fd, ulong Inode)> into) : INumericEntryVisitor
    {
        public void Visit(int directoryFd, int value, byte* name)
        {
            const int Size = 64; // "socket:[<inode>]" fits; a longer target is not a socket
            var target = stackalloc byte[Size];
            var n = MonitorInterop.ReadLinkAt(directoryFd, name, target, Size);
            if (n > 0 && SocketInode(new ReadOnlySpan<byte>(target, (int)n)) is var inode and > 0)
            {
                into.Add((value, inode));
            }
        }
    }

    private static bool ToCPath(string path, Span<byte> destination)
    {
        if (path.Length >= destination.Length)
        {
            return false;
        }

        var n = Encoding.UTF8.GetBytes(path, destination[..^1]);
        destination[n] = 0;
        return true;
    }
}

/// <summary>The lines of /proc/&lt;pid&gt;/status the monitors use.</summary>
internal readonly record struct ProcStatus(string Name, int Tgid, int PPid, int Uid, int Euid, int TracerPid)
{
    public static bool TryParse(ReadOnlySpan<byte> text, out ProcStatus status)
    {
        string name = "";
        int tgid = 0, ppid = 0, uid = -1, euid = -1, tracer = 0;
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon];
            var value = line[(colon + 1)..].TrimStart("\t "u8);
            if (key.SequenceEqual("Name"u8))
            {
                name = Encoding.UTF8.GetString(value);
            }
            else if (key.SequenceEqual("Tgid"u8))
            {
                tgid = ParseInt(value);
            }
            else if (key.SequenceEqual("PPid"u8))
            {
                ppid = ParseInt(value);
            }
            else if (key.SequenceEqual("TracerPid"u8))
            {
                tracer = ParseInt(value);
            }
            else if (key.SequenceEqual("Uid"u8))
            {
                // real, effective, saved, filesystem
                var i = 0;
                foreach (var r in value.Split((byte)'\t'))
                {
                    var v = value[r];
                    if (v.IsEmpty)
                    {
                        continue;
                    }

                    if (i == 0)
                    {
                        uid = ParseInt(v);
                    }
                    else if (i == 1)
                    {
                        euid = ParseInt(v);
                        break;
                    }

                    i++;
                }
            }
        }

        status = new ProcStatus(name, tgid, ppid, uid, euid, tracer);
        return uid >= 0 && euid >= 0;
    }

    private static int ParseInt(ReadOnlySpan<byte> value) =>
        int.TryParse(value.Trim(" \t"u8), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0;
}
