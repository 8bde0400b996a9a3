namespace HardenRunner.Trust;

/// <summary>
/// Paths inside a file-system root ("/" on a real system, a temporary directory in tests). Symbolic links are
/// followed with absolute targets taken relative to the root, so a test tree laid out like RHEL's (where
/// <c>/etc/pki/tls/certs/ca-bundle.crt</c> is an absolute link) resolves inside the tree, never onto the host.
/// </summary>
public sealed class RootedPaths
{
    private const int MaxLinkHops = 40;

    private readonly string _root; // no trailing slash; "" for "/"

    public RootedPaths(string root)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        _root = Path.GetFullPath(root).TrimEnd('/');
    }

    public static RootedPaths System { get; } = new("/");

    public string Root => _root.Length == 0 ? "/" : _root;

    /// <summary>Where the system path <paramref name="systemPath"/> (absolute, e.g. <c>/etc/ssl/certs</c>) is under this root.</summary>
    public string Map(string systemPath)
    {
        if (!systemPath.StartsWith('/'))
        {
            throw new ArgumentException($"not an absolute path: {systemPath}", nameof(systemPath));
        }

        return _root + systemPath;
    }

    /// <summary>
    /// The real path of <paramref name="path"/> (a path under the root): every symbolic link in it resolved, '.' and
    /// '..' removed, never above the root. Missing components are kept as they are.
    /// </summary>
    /// <exception cref="IOException">A link loop (more than 40 links).</exception>
    public string Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        if (!IsUnderRoot(full))
        {
            throw new ArgumentException($"{path} is not under {Root}", nameof(path));
        }

        var pending = new Stack<string>(Split(full[_root.Length..]).Reverse());
        var resolved = new List<string>();
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            var candidate = _root + "/" + string.Join('/', resolved.Append(part));
            var target = LinkTarget(candidate);
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }

            if (++hops > MaxLinkHops)
            {
                throw new IOException($"too many levels of symbolic links resolving {path}");
            }

            if (target.StartsWith('/'))
            {
                resolved.Clear();
            }

            foreach (var t in Split(target).Reverse())
            {
                pending.Push(t);
            }
        }

        return _root + "/" + string.Join('/', resolved);
    }

    /// <summary>The raw target of a symbolic link, or null when <paramref name="path"/> is not one (or does not exist).</summary>
    public static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>True when something (file, directory, or link, even a dangling one) is at <paramref name="path"/>.</summary>
    public static bool Exists(string path) => File.Exists(path) || Directory.Exists(path) || LinkTarget(path) is not null;

    private bool IsUnderRoot(string full) =>
        _root.Length == 0 || full == _root || full.StartsWith(_root + "/", StringComparison.Ordinal);

    private static IEnumerable<string> Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);
}
