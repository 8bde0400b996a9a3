using System.Runtime.InteropServices;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// Turns the directory file handle of a FID-mode fanotify event into a path: open_by_handle_at with a descriptor on
/// the same filesystem (a "mount fd"), then readlink of /proc/self/fd/N. Results are cached by handle (a build
/// touches the same few directories over and over); the cache is cleared when a directory is renamed or deleted,
/// and when it grows past its bound. Owned by the watcher's reader thread: not thread-safe.
/// </summary>
/// <remarks>
/// The path is the directory's path when the event is read, not when it happened (inherent in handles). A filesystem
/// reachable through several mounts is tried through each registered mount in turn, so a bind-mounted workspace and
/// /etc on the same filesystem both resolve.
/// </remarks>
internal sealed unsafe class DirectoryHandleResolver : IDisposable
{
    private readonly Dictionary<FsId, List<int>> _mountFds = [];
    private readonly HashSet<string> _mountIds = new(StringComparer.Ordinal);
    private readonly Dictionary<byte[], string?> _cache = new(ByteArrayComparer.Instance);
    private readonly int _capacity;

    public DirectoryHandleResolver(int capacity = 65_536)
    {
        _capacity = capacity;
    }

    public long Lookups { get; private set; }

    public long Misses { get; private set; }

    public long Failures { get; private set; }

    /// <summary>Registers the filesystem (and mount) of the existing directory <paramref name="directory"/>.</summary>
    public FsId AddMount(string directory)
    {
        var fsid = FanotifyInterop.FsIdOf(directory);
        var fd = FanotifyInterop.Open(directory, FanotifyInterop.ORdonly | FanotifyInterop.ODirectory | FanotifyInterop.OCloexec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"open {directory}: {FanotifyInterop.ErrorText(errno)}");
        }

        var mountId = MountIdOf(fd);
        if (mountId is not null && !_mountIds.Add($"{fsid}/{mountId}"))
        {
            FanotifyInterop.Close(fd);
            return fsid;
        }

        if (!_mountFds.TryGetValue(fsid, out var fds))
        {
            _mountFds[fsid] = fds = [];
        }

        fds.Add(fd);
        return fsid;
    }

    /// <summary>
    /// The path of the directory in <paramref name="dirKey"/> (fsid + file_handle), or null when it cannot be opened
    /// (deleted, unknown filesystem). <paramref name="accept"/> picks among the paths of several mounts.
    /// </summary>
    public string? Resolve(byte[] dirKey, FsId fsid, Func<string, bool> accept)
    {
        Lookups++;
        if (_cache.TryGetValue(dirKey, out var cached))
        {
            return cached;
        }

        Misses++;
        string? first = null;
        if (_mountFds.TryGetValue(fsid, out var fds))
        {
            foreach (var mountFd in fds)
            {
                var path = Open(mountFd, dirKey);
                if (path is null)
                {
                    continue;
                }

                first ??= path;
                if (accept(path))
                {
                    first = path;
                    break;
                }
            }
        }

        if (first is null)
        {
            Failures++;
        }

        if (_cache.Count >= _capacity)
        {
            _cache.Clear();
        }

        _cache[dirKey] = first;
        return first;
    }

    /// <summary>Forgets every cached path (a directory was renamed or deleted somewhere).</summary>
    public void Invalidate() => _cache.Clear();

    public void Dispose()
    {
        foreach (var fds in _mountFds.Values)
        {
            foreach (var fd in fds)
            {
                FanotifyInterop.Close(fd);
            }
        }

        _mountFds.Clear();
    }

    private static string? Open(int mountFd, byte[] dirKey)
    {
        int fd;
        fixed (byte* key = dirKey)
        {
            fd = FanotifyInterop.OpenByHandleAt(mountFd, key + 8, FanotifyInterop.OPath | FanotifyInterop.OCloexec);
        }

        if (fd < 0)
        {
            return null;
        }

        try
        {
            var path = FanotifyInterop.ReadLinkText($"/proc/self/fd/{fd}");
            return path is null || path.EndsWith(" (deleted)", StringComparison.Ordinal) || !path.StartsWith('/') ? null : path;
        }
        finally
        {
            FanotifyInterop.Close(fd);
        }
    }

    private static string? MountIdOf(int fd)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/self/fdinfo/{fd}"))
            {
                if (line.StartsWith("mnt_id:", StringComparison.Ordinal))
                {
                    return line[7..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }
}

/// <summary>Content equality for byte arrays used as dictionary keys (file handles).</summary>
internal sealed class ByteArrayComparer : IEqualityComparer<byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj)
    {
        var h = new HashCode();
        h.AddBytes(obj);
        return h.ToHashCode();
    }
}
