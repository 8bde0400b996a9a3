namespace HardenRunner.Monitoring.Files;

/// <summary>
/// The control paths with their canonical forms (a symlink is watched at its own path and at its target) and the
/// last content seen of each control file (fingerprints taken at start; a file absent at start has none).
/// State is mutated only by the monitor's consumer thread.
/// </summary>
internal sealed class ControlFileSet
{
    private const int MaxFilesPerDirectory = 10_000;

    private readonly Dictionary<string, ControlPath> _files = new(StringComparer.Ordinal);
    private readonly List<(string Directory, ControlPath Control)> _directories = [];
    private readonly Dictionary<string, string?> _state = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _detections = new(StringComparer.Ordinal);
    private readonly long _maxHashedBytes;

    public ControlFileSet(IEnumerable<ControlPath> controls, long maxHashedBytes)
    {
        _maxHashedBytes = maxHashedBytes;
        foreach (var c in controls)
        {
            foreach (var form in Forms(c.Path))
            {
                if (c.IsDirectory)
                {
                    _directories.Add((form, c));
                }
                else
                {
                    _files.TryAdd(form, c);
                }
            }
        }

        foreach (var path in AllFiles())
        {
            _state[path] = FileFingerprint.Compute(path, _maxHashedBytes);
        }
    }

    public IEnumerable<string> WatchedFiles => _files.Keys;

    public IEnumerable<string> WatchedDirectories => _directories.Select(d => d.Directory);

    /// <summary>The control that <paramref name="path"/> belongs to, or null.</summary>
    public ControlPath? Match(string path)
    {
        if (_files.TryGetValue(path, out var c))
        {
            return c;
        }

        foreach (var (dir, control) in _directories)
        {
            if (path.Length > dir.Length && WatchScope.IsUnder(path, dir))
            {
                return control;
            }
        }

        return null;
    }

    /// <summary>Control files at or below <paramref name="directory"/> (a directory of theirs was moved or created).</summary>
    public IEnumerable<string> Below(string directory) =>
        AllFiles().Concat(_state.Keys).Distinct(StringComparer.Ordinal).Where(p => WatchScope.IsUnder(p, directory)).ToList();

    /// <summary>Every control file known now: the single files and the files found in control directories.</summary>
    public IEnumerable<string> AllFiles()
    {
        foreach (var f in _files.Keys)
        {
            yield return f;
        }

        foreach (var (dir, _) in _directories)
        {
            if (!Directory.Exists(dir))
            {
                continue;
            }

            var n = 0;
            foreach (var f in Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 }))
            {
                if (++n > MaxFilesPerDirectory)
                {
                    break;
                }

                yield return f;
            }
        }
    }

    /// <summary>Fingerprints <paramref name="path"/> now and records it. Returns the previous and the new fingerprint.</summary>
    public (string? Old, string? New) Update(string path)
    {
        _state.TryGetValue(path, out var old);
        var now = FileFingerprint.Compute(path, _maxHashedBytes);
        _state[path] = now;
        return (old, now);
    }

    /// <summary>True while <paramref name="path"/> may raise another detection (counts this one).</summary>
    public bool TakeDetection(string path, int max)
    {
        _detections.TryGetValue(path, out var n);
        if (n >= max)
        {
            return false;
        }

        _detections[path] = n + 1;
        return true;
    }

    private static IEnumerable<string> Forms(string path)
    {
        var full = Path.GetFullPath(path);
        yield return full;
        var canonical = CanonicalOfMaybeMissing(full);
        if (canonical is not null && !string.Equals(canonical, full, StringComparison.Ordinal))
        {
            yield return canonical;
        }
    }

    /// <summary>realpath of the path, or of its nearest existing ancestor joined with the rest.</summary>
    private static string? CanonicalOfMaybeMissing(string full)
    {
        var existing = FanotifyInterop.Canonical(full);
        if (existing is not null)
        {
            return existing;
        }

        var parent = Path.GetDirectoryName(full);
        if (parent is null)
        {
            return null;
        }

        var canonicalParent = CanonicalOfMaybeMissing(parent);
        return canonicalParent is null ? null : WatchScope.Join(canonicalParent, Path.GetFileName(full));
    }
}
