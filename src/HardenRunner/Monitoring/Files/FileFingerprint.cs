using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// What a path holds, as a comparable string: <c>sha256:&lt;hex&gt;</c> for a regular file (content only: an identical
/// rewrite keeps the fingerprint), <c>large:&lt;size&gt;:&lt;mtime&gt;</c> for one bigger than the hashing bound,
/// <c>link:&lt;target&gt;</c> for a symlink (never followed), <c>type:&lt;mode&gt;</c> for anything else (a FIFO is never
/// opened for reading, so a step cannot hang the monitor with one), null when nothing is there.
/// </summary>
public static unsafe class FileFingerprint
{
    /// <summary>Stands for "present, content not read yet" (a source file was just created; its close-write follows).</summary>
    public const string Pending = "pending";

    private const int ChunkBytes = 128 * 1024;

    public static string? Compute(string path, long maxHashedBytes)
    {
        var fd = FanotifyInterop.Open(
            path, FanotifyInterop.ORdonly | FanotifyInterop.ONonblock | FanotifyInterop.ONofollow | FanotifyInterop.ONoctty | FanotifyInterop.OCloexec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                FanotifyInterop.Enoent or FanotifyInterop.Enotdir => null,
                FanotifyInterop.Eloop => "link:" + (FanotifyInterop.ReadLinkText(path) ?? "?"),
                _ => "unreadable:" + errno.ToString(CultureInfo.InvariantCulture),
            };
        }

        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var stat = stackalloc byte[FanotifyInterop.StatxBufferSize];
        if (FanotifyInterop.Statx(fd, "", FanotifyInterop.AtEmptyPath, FanotifyInterop.StatxType | FanotifyInterop.StatxSize | FanotifyInterop.StatxMtime, stat) != 0)
        {
            return "unreadable:" + Marshal.GetLastPInvokeError().ToString(CultureInfo.InvariantCulture);
        }

        var mode = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(stat + FanotifyInterop.StatxModeOffset, 2)) & FanotifyInterop.SIfmt;
        if (mode != FanotifyInterop.SIfreg)
        {
            return mode == FanotifyInterop.SIfdir ? "dir" : "type:" + mode.ToString("x", CultureInfo.InvariantCulture);
        }

        var size = BinaryPrimitives.ReadInt64LittleEndian(new ReadOnlySpan<byte>(stat + FanotifyInterop.StatxSizeOffset, 8));
        if (size > maxHashedBytes)
        {
            var sec = BinaryPrimitives.ReadInt64LittleEndian(new ReadOnlySpan<byte>(stat + FanotifyInterop.StatxMtimeOffset, 8));
            var nsec = BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(stat + FanotifyInterop.StatxMtimeOffset + 8, 4));
            return string.Create(CultureInfo.InvariantCulture, $"large:{size}:{sec}.{nsec:D9}");
        }

        return Hash(handle, maxHashedBytes);
    }

    /// <summary>The first 16 hex digits of a sha256 fingerprint (for evidence), or the fingerprint kind, or "absent".</summary>
    public static string Short(string? fingerprint) => fingerprint switch
    {
        null => "absent",
        _ when fingerprint.StartsWith("sha256:", StringComparison.Ordinal) => fingerprint.Substring(7, 16),
        _ => fingerprint.Length > 40 ? fingerprint[..40] : fingerprint,
    };

    private static string? Hash(SafeFileHandle handle, long maxHashedBytes)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long offset = 0;
            while (true)
            {
                int n;
                try
                {
                    n = RandomAccess.Read(handle, buffer.AsSpan(0, ChunkBytes), offset);
                }
                catch (IOException e)
                {
                    return "unreadable:" + e.HResult.ToString(CultureInfo.InvariantCulture);
                }

                if (n <= 0)
                {
                    break;
                }

                sha.AppendData(buffer, 0, n);
                offset += n;
                if (offset > maxHashedBytes)
                {
                    // grew past the bound while being read: content still differs from any smaller baseline
                    return string.Create(CultureInfo.InvariantCulture, $"large:{offset}:growing");
                }
            }

            return "sha256:" + Convert.ToHexStringLower(sha.GetHashAndReset());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
