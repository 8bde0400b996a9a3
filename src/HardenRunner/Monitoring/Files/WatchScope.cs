namespace HardenRunner.Monitoring.Files;

/// <summary>
/// What the file watcher keeps: whole subtrees (the workspace, control directories such as /etc/sudoers.d) and
/// single files (/etc/resolv.conf, the trust bundle, the git index). Paths are canonical (symlinks resolved) because
/// the paths the kernel hands back are. Every other event on a marked filesystem is dropped on the reader thread.
/// </summary>
public sealed class WatchScope
{
    private readonly string[] _subtrees;
    private readonly HashSet<string> _files;
    private readonly HashSet<string> _ancestors;

    public WatchScope(IEnumerable<string> subtrees, IEnumerable<string> files)
    {
        ArgumentNullException.ThrowIfNull(subtrees);
        ArgumentNullException.ThrowIfNull(files);
        _subtrees = [.. subtrees.Select(Normalize).Distinct(StringComparer.Ordinal)];
        _files = new HashSet<string>(files.Select(Normalize), StringComparer.Ordinal);
        _ancestors = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in _subtrees.Concat(_files))
        {
            for (var parent = Parent(p); parent is not null; parent = Parent(parent))
            {
                _ancestors.Add(parent);
            }
        }
    }

    public IReadOnlyList<string> Subtrees => _subtrees;

    public IReadOnlyCollection<string> Files => _files;

    /// <summary>True when events for entries of directory <paramref name="directory"/> can matter.</summary>
    public bool DirectoryMatters(string directory) => InSubtree(directory) || _ancestors.Contains(directory);

    /// <summary>True when an event on <paramref name="path"/> is kept.</summary>
    public bool Matches(string path, bool isDirectory) =>
        InSubtree(path) || _files.Contains(path) || (isDirectory && _ancestors.Contains(path));

    /// <summary>True when <paramref name="path"/> is a watched subtree root or lies below one.</summary>
    public bool InSubtree(string path)
    {
        foreach (var root in _subtrees)
        {
            if (IsUnder(path, root))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when <paramref name="path"/> equals <paramref name="root"/> or lies below it.</summary>
    public static bool IsUnder(string path, string root) =>
        path.Length == root.Length
            ? string.Equals(path, root, StringComparison.Ordinal)
            : path.Length > root.Length && path[root.Length] == '/' && path.StartsWith(root, StringComparison.Ordinal);

    /// <summary>Joins a directory from the kernel and an entry name ("." is the directory itself).</summary>
    public static string Join(string directory, string? name) =>
        name is null or "." ? directory : directory == "/" ? "/" + name : directory + "/" + name;

    private static string? Parent(string path)
    {
        var i = path.LastIndexOf('/');
        return i <= 0 ? (path.Length > 1 ? "/" : null) : path[..i];
    }

    private static string Normalize(string path)
    {
        if (!Path.IsPathRooted(path))
        {
            throw new ArgumentException($"watch paths must be absolute: {path}", nameof(path));
        }

        var full = Path.GetFullPath(path);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }
}
