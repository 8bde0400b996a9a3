using System.Buffers.Binary;
using System.Globalization;
using System.Net;

namespace HardenRunner.Monitoring;

/// <summary>An internet socket found in a /proc/&lt;pid&gt;/net table.</summary>
internal readonly record struct InetSocket(string Protocol, IPEndPoint Local, IPEndPoint Remote, int State);

/// <summary>
/// Looks a socket inode up in /proc/&lt;pid&gt;/net/{tcp,tcp6,udp,udp6}: the tables of that process's own network
/// namespace (so it works for containers too). Used to tell an internet socket from a Unix one.
/// </summary>
internal static class ProcNetSockets
{
    private static readonly string[] Tables = ["tcp", "tcp6", "udp", "udp6"];

    public static InetSocket? Find(int pid, ulong inode)
    {
        if (inode == 0)
        {
            return null;
        }

        // Rare (only for a shell whose stdin/stdout is a socket), so the simple read: a host with thousands of
        // TIME_WAIT sockets has megabyte-sized tables and ~20 ms of kernel time per read.
        foreach (var table in Tables)
        {
            byte[] text;
            try
            {
                text = File.ReadAllBytes(ProcFs.PidPath(pid, "net/" + table));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return null; // the process is gone
            }

            if (TryFind(text, table, inode, out var socket))
            {
                return socket;
            }
        }

        return null;
    }

    /// <summary>Parses one table (header line first) and returns the entry with <paramref name="inode"/>.</summary>
    public static bool TryFind(ReadOnlySpan<byte> text, string protocol, ulong inode, out InetSocket socket)
    {
        socket = default;
        var first = true;
        Span<Range> fields = stackalloc Range[12];
        foreach (var lineRange in text.Split((byte)'\n'))
        {
            if (first)
            {
                first = false;
                continue;
            }

            var line = text[lineRange].Trim((byte)' ');
            if (line.IsEmpty)
            {
                continue;
            }

            var count = SplitFields(line, fields);
            if (count < 10 || !ulong.TryParse(line[fields[9]], NumberStyles.None, CultureInfo.InvariantCulture, out var ino) || ino != inode)
            {
                continue;
            }

            var local = ParseEndPoint(line[fields[1]]);
            var remote = ParseEndPoint(line[fields[2]]);
            if (local is null || remote is null)
            {
                return false;
            }

            _ = int.TryParse(line[fields[3]], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var state);
            socket = new InetSocket(protocol.TrimEnd('6'), local, remote, state);
            return true;
        }

        return false;
    }

    /// <summary>"0100007F:1F90" (IPv4, host-order word) or 32 hex digits (IPv6, four host-order words) plus port.</summary>
    internal static IPEndPoint? ParseEndPoint(ReadOnlySpan<byte> text)
    {
        var colon = text.IndexOf((byte)':');
        if (colon < 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port))
        {
            return null;
        }

        var hex = text[..colon];
        if (hex.Length is not (8 or 32))
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[16];
        for (var word = 0; word < hex.Length / 8; word++)
        {
            if (!uint.TryParse(hex.Slice(word * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value))
            {
                return null;
            }

            // the kernel prints each 32-bit word of the network-order address as a host-order integer
            if (BitConverter.IsLittleEndian)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes[(word * 4)..], value);
            }
            else
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes[(word * 4)..], value);
            }
        }

        var address = new IPAddress(bytes[..(hex.Length / 2)]);
        return new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, port);
    }

    private static int SplitFields(ReadOnlySpan<byte> line, Span<Range> fields)
    {
        var count = 0;
        var i = 0;
        while (i < line.Length && count < fields.Length)
        {
            while (i < line.Length && line[i] == (byte)' ')
            {
                i++;
            }

            var start = i;
            while (i < line.Length && line[i] != (byte)' ')
            {
                i++;
            }

            if (i > start)
            {
                fields[count++] = start..i;
            }
        }

        return count;
    }
}
