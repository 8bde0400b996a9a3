using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HardenRunner.Lockdown;

/// <summary>What <see cref="PrivilegeLockdown.Apply"/> did.</summary>
public sealed record LockdownResult(IReadOnlyList<string> SudoersFilesChanged, int RulesDisabled, IReadOnlyList<string> SocketsLocked, IReadOnlyList<string> Warnings);

/// <summary>
/// <c>disable-sudo</c> and <c>disable-sudo-and-containers</c>: comments out every sudoers rule that grants the
/// runner's user anything and, for the second, sets the container runtime sockets to mode 000 (only root may then
/// connect, so membership of the docker group no longer gives root). Every file is backed up byte for byte into the
/// state directory before it is touched, with a manifest written first, so <see cref="Restore"/> puts back exactly
/// what was there — at stop, or at the next start after a run that died. Files are rewritten in place (same inode,
/// owner and mode). See docs/deployment.md.
/// </summary>
public static class PrivilegeLockdown
{
    public const string ManifestFileName = "manifest.json";

    /// <summary>Applies the lockdown; throws <see cref="InvalidOperationException"/> (after undoing what it did) when it cannot.</summary>
    public static LockdownResult Apply(string lockdownDirectory, LockdownOptions options)
    {
        ArgumentNullException.ThrowIfNull(lockdownDirectory);
        ArgumentNullException.ThrowIfNull(options);
        var subject = UserDatabase.Find(options.User, options.PasswdPath, options.GroupPath)
            ?? throw new InvalidOperationException($"disable-sudo: user '{options.User}' is not in {options.PasswdPath}");
        if (subject.Uid == 0)
        {
            throw new InvalidOperationException($"disable-sudo: user '{options.User}' is root; there is nothing a sudoers change could take away");
        }

        Directory.CreateDirectory(lockdownDirectory);
        File.SetUnixFileMode(lockdownDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (File.Exists(Path.Combine(lockdownDirectory, ManifestFileName)))
        {
            throw new InvalidOperationException("disable-sudo: a previous lockdown is still recorded; restore it first");
        }

        // 1. plan: the new text of every file that grants the user something
        var plan = new List<(string Path, byte[] Original, byte[] Updated)>();
        var disabled = 0;
        foreach (var path in SudoersFiles(options))
        {
            var original = File.ReadAllBytes(path);
            var text = Encoding.UTF8.GetString(original);
            var updated = SudoersRules.Disable(text, subject, out var n);
            if (n > 0)
            {
                plan.Add((path, original, Encoding.UTF8.GetBytes(updated)));
                disabled += n;
            }
        }

        var sockets = new List<ManifestSocket>();
        var warnings = new List<string>();
        if (options.Containers)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in options.ContainerSockets)
            {
                if (!File.Exists(s) && !Directory.Exists(s))
                {
                    continue;
                }

                var real = new FileInfo(s).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(s);
                var dir = Path.GetDirectoryName(real)!;
                var realDir = new DirectoryInfo(dir).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? dir;
                real = Path.Combine(realDir, Path.GetFileName(real));
                if (seen.Add(real))
                {
                    sockets.Add(new ManifestSocket(real, (int)File.GetUnixFileMode(real)));
                }
            }
        }

        // 2. backups and the manifest, before anything changes
        var manifest = new Manifest
        {
            Files = [.. plan.Select((p, i) => new ManifestFile(p.Path, i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".orig"))],
            Sockets = sockets,
        };
        for (var i = 0; i < plan.Count; i++)
        {
            WritePrivate(Path.Combine(lockdownDirectory, manifest.Files[i].Backup), plan[i].Original);
        }

        WritePrivate(Path.Combine(lockdownDirectory, ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJson.Default.Manifest));

        // 3. the changes; any failure puts back what was changed
        try
        {
            foreach (var p in plan)
            {
                OverwriteInPlace(p.Path, p.Updated);
            }

            foreach (var s in sockets)
            {
                File.SetUnixFileMode(s.Path, UnixFileMode.None);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Restore(lockdownDirectory);
            throw new InvalidOperationException($"disable-sudo: {ex.Message} (every change was undone)", ex);
        }

        if (plan.Count == 0)
        {
            warnings.Add($"no sudoers rule grants '{options.User}' anything; nothing to disable");
        }

        if (options.Containers && sockets.Count == 0)
        {
            warnings.Add("no container runtime socket found to lock");
        }

        return new LockdownResult([.. plan.Select(p => p.Path)], disabled, [.. sockets.Select(s => s.Path)], warnings);
    }

    /// <summary>
    /// Puts back every file byte for byte and every socket's mode, then forgets the lockdown. No-op (returns 0) when
    /// nothing is recorded. Returns the number of files and sockets restored.
    /// </summary>
    public static int Restore(string lockdownDirectory)
    {
        ArgumentNullException.ThrowIfNull(lockdownDirectory);
        var manifestPath = Path.Combine(lockdownDirectory, ManifestFileName);
        if (!File.Exists(manifestPath))
        {
            return 0;
        }

        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(manifestPath), ManifestJson.Default.Manifest)
            ?? throw new InvalidOperationException($"{manifestPath} is empty");
        var restored = 0;
        var problems = new List<string>();
        foreach (var f in manifest.Files)
        {
            try
            {
                OverwriteInPlace(f.Path, File.ReadAllBytes(Path.Combine(lockdownDirectory, f.Backup)));
                restored++;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{f.Path}: {ex.Message}");
            }
        }

        foreach (var s in manifest.Sockets)
        {
            try
            {
                if (File.Exists(s.Path) || Directory.Exists(s.Path))
                {
                    File.SetUnixFileMode(s.Path, (UnixFileMode)s.Mode);
                    restored++;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{s.Path}: {ex.Message}");
            }
        }

        if (problems.Count > 0)
        {
            // keep the manifest and backups: the next start tries again
            throw new IOException("could not restore " + string.Join("; ", problems));
        }

        foreach (var f in manifest.Files)
        {
            File.Delete(Path.Combine(lockdownDirectory, f.Backup));
        }

        File.Delete(manifestPath);
        return restored;
    }

    private static IEnumerable<string> SudoersFiles(LockdownOptions options)
    {
        if (File.Exists(options.SudoersPath))
        {
            yield return options.SudoersPath;
        }

        if (Directory.Exists(options.SudoersDirectory))
        {
            foreach (var f in Directory.EnumerateFiles(options.SudoersDirectory).Order(StringComparer.Ordinal))
            {
                if (SudoersRules.IsReadByIncludeDir(Path.GetFileName(f)) && new FileInfo(f).LinkTarget is null)
                {
                    yield return f;
                }
            }
        }
    }

    /// <summary>Rewrites a file's content keeping its inode, owner and mode (sudo refuses files whose owner or mode changed).</summary>
    private static void OverwriteInPlace(string path, byte[] content)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.SetLength(0);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    private static void WritePrivate(string path, byte[] content)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        using var stream = new FileStream(path, options);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    internal sealed record ManifestFile(string Path, string Backup);

    internal sealed record ManifestSocket(string Path, int Mode);

    internal sealed record Manifest
    {
        public IReadOnlyList<ManifestFile> Files { get; init; } = [];

        public IReadOnlyList<ManifestSocket> Sockets { get; init; } = [];
    }
}

[JsonSerializable(typeof(PrivilegeLockdown.Manifest))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
internal sealed partial class ManifestJson : JsonSerializerContext;
