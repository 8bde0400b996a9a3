using System.Buffers.Binary;
using System.Text;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// One event as the kernel reported it. In FID mode <see cref="DirKey"/> identifies the parent directory
/// (<c>fsid</c> then the <c>struct file_handle</c>) and <see cref="Name"/> the entry in it; in fd mode
/// <see cref="Fd"/> is an open descriptor of the object (the caller must close it). <see cref="Pid"/> is the process
/// that caused the event (the writer, the creator, the renamer).
/// </summary>
internal readonly record struct FanotifyRawEvent(ulong Mask, int Pid, int Fd, byte[]? DirKey, string? Name)
{
    public bool IsOverflow => (Mask & FanotifyInterop.FanQOverflow) != 0;

    public bool IsDirectory => (Mask & FanotifyInterop.FanOnDir) != 0;

    /// <summary>The filesystem id at the start of <see cref="DirKey"/>.</summary>
    public FsId? FsId => DirKey is { Length: >= 8 } k
        ? new FsId(BinaryPrimitives.ReadInt32LittleEndian(k), BinaryPrimitives.ReadInt32LittleEndian(k.AsSpan(4)))
        : null;
}

/// <summary>
/// Splits a buffer returned by read(2) on a fanotify descriptor into events (fanotify(7): <c>fanotify_event_metadata</c>
/// followed, in FID mode, by info records). Pure: never touches the kernel, so it is tested with hand-built buffers.
/// Malformed input ends the walk (and is counted) rather than throwing: the reader thread must survive anything.
/// </summary>
internal static class FanotifyEventParser
{
    public const int MetadataSize = 24;

    /// <summary>
    /// Parses every whole event in <paramref name="buffer"/>. Returns the number of bytes consumed; sets
    /// <paramref name="malformed"/> when a record was inconsistent (the rest of the buffer is then skipped).
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> buffer, List<FanotifyRawEvent> into, out bool malformed)
    {
        malformed = false;
        var offset = 0;
        while (buffer.Length - offset >= MetadataSize)
        {
            var ev = buffer[offset..];
            var eventLen = (int)BinaryPrimitives.ReadUInt32LittleEndian(ev);
            var version = ev[4];
            var metadataLen = BinaryPrimitives.ReadUInt16LittleEndian(ev[6..]);
            if (version != FanotifyInterop.FanotifyMetadataVersion || eventLen < MetadataSize || metadataLen < MetadataSize
                || metadataLen > eventLen || eventLen > ev.Length)
            {
                malformed = true;
                return buffer.Length;
            }

            var mask = BinaryPrimitives.ReadUInt64LittleEndian(ev[8..]);
            var fd = BinaryPrimitives.ReadInt32LittleEndian(ev[16..]);
            var pid = BinaryPrimitives.ReadInt32LittleEndian(ev[20..]);
            byte[]? dirKey = null;
            string? name = null;
            var info = ev[metadataLen..eventLen];
            while (info.Length >= 4)
            {
                var type = info[0];
                var len = BinaryPrimitives.ReadUInt16LittleEndian(info[2..]);
                if (len < 4 || len > info.Length)
                {
                    malformed = true;
                    break;
                }

                var record = info[..len];
                if (type is FanotifyInterop.InfoTypeDfidName or FanotifyInterop.InfoTypeDfid && dirKey is null)
                {
                    if (!TryReadFid(record, type == FanotifyInterop.InfoTypeDfidName, out dirKey, out name))
                    {
                        malformed = true;
                    }
                }

                info = info[len..];
            }

            into.Add(new FanotifyRawEvent(mask, pid, fd, dirKey, name));
            offset += eventLen;
        }

        return offset;
    }

    /// <summary>
    /// Reads <c>fanotify_event_info_fid</c>: header (4), fsid (8), <c>struct file_handle</c> (handle_bytes u32,
    /// handle_type i32, f_handle[handle_bytes]) and, for DFID_NAME, a NUL-terminated name.
    /// </summary>
    private static bool TryReadFid(ReadOnlySpan<byte> record, bool hasName, out byte[]? key, out string? name)
    {
        key = null;
        name = null;
        const int fsidAt = 4;
        const int handleAt = fsidAt + 8;
        if (record.Length < handleAt + 8)
        {
            return false;
        }

        var handleBytes = (int)BinaryPrimitives.ReadUInt32LittleEndian(record[handleAt..]);
        var handleEnd = handleAt + 8 + handleBytes;
        if (handleBytes is <= 0 or > 128 || handleEnd > record.Length)
        {
            return false;
        }

        key = record[fsidAt..handleEnd].ToArray();
        if (hasName)
        {
            var rest = record[handleEnd..];
            var nul = rest.IndexOf((byte)0);
            if (nul <= 0)
            {
                return false;
            }

            name = Encoding.UTF8.GetString(rest[..nul]);
        }

        return true;
    }
}
