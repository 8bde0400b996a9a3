using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Trust;

/// <summary>
/// Puts the ephemeral CA into the system trust store and takes it out again, leaving every file byte-identical to
/// before. Fast: the PEM is appended to the bundle(s) in place (no rebuild; files may be bind mounts, so never a
/// rename), dropped into the local anchors directory (so a rebuild during the job keeps it) and linked by its OpenSSL
/// subject hash into the CApath directories; JDK keystores get it through keytool (best effort). Every change is
/// recorded in a manifest in the state directory before it is made, with a byte-exact backup of each changed file, so
/// <see cref="Uninstall"/> works from a fresh process after a crash. The state directory holds public data only:
/// the CA certificate, never its key.
/// </summary>
public sealed class TrustStoreInstaller
{
    private const string CaPemFile = "ca.pem";
    private const string BackupDirectory = "backups";
    private const int MaxHashSuffix = 100;

    private static readonly UnixFileMode PublicFile =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    private static readonly UnixFileMode PublicDirectory = PublicFile | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private readonly string _state;
    private readonly TrustStoreLayout _layout;
    private readonly IReadOnlyList<JavaKeystore> _javaKeystores;

    /// <param name="stateDirectory">A directory of our own (e.g. <c>/var/lib/harden-runner/trust</c>); created if missing.
    /// Job processes must be able to read <c>ca.pem</c> in it, so its parents need to be searchable by others.</param>
    /// <param name="layout">The trust-store layout (<see cref="TrustStoreLayout.Detect"/>).</param>
    /// <param name="javaKeystores">JDK keystores to import into (<see cref="JavaKeystore.Discover"/>); none by default.</param>
    public TrustStoreInstaller(string stateDirectory, TrustStoreLayout layout, IReadOnlyList<JavaKeystore>? javaKeystores = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        ArgumentNullException.ThrowIfNull(layout);
        _state = Path.GetFullPath(stateDirectory);
        _layout = layout;
        _javaKeystores = javaKeystores ?? [];
    }

    /// <summary>The id used in file names and keystore aliases: 16 hex digits of the certificate's SHA-256.</summary>
    public static string IdOf(X509Certificate2 ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        return Convert.ToHexStringLower(SHA256.HashData(ca.RawData))[..16];
    }

    /// <summary>
    /// Installs <paramref name="ca"/> (its public part). A CA left installed by an earlier run that crashed is removed
    /// first. If any system-store step fails, everything done so far is undone and a <see cref="TrustStoreException"/>
    /// is thrown; a Java keystore that cannot be changed is only a warning.
    /// </summary>
    public TrustInstallation Install(X509Certificate2 ca)
    {
        ArgumentNullException.ThrowIfNull(ca);
        var stopwatch = Stopwatch.StartNew();
        var warnings = new List<string>();
        RecoverEarlierRun(warnings);

        Directory.CreateDirectory(_state, PublicDirectory);
        File.SetUnixFileMode(_state, PublicDirectory);
        Directory.CreateDirectory(Path.Combine(_state, BackupDirectory), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var id = IdOf(ca);
        var pem = ca.ExportCertificatePem() + "\n";
        var session = new Session(_state, new TrustManifest
        {
            Id = id,
            Layout = _layout.Kind,
            Certificate = Convert.ToBase64String(ca.RawData),
            CaPemPath = Path.Combine(_state, CaPemFile),
            BundlePath = _layout.PrimaryBundle,
            ScanDirectories = [.. _layout.HashDirectories],
        });
        session.Save();

        try
        {
            WritePublicFile(session.Manifest.CaPemPath, pem);
            var written = new HashSet<string>(StringComparer.Ordinal);
            foreach (var bundle in _layout.Bundles)
            {
                var real = _layout.Paths.Resolve(bundle);
                if (written.Add(real))
                {
                    session.AppendToFile(real, pem);
                }
            }

            session.EnsureDirectory(_layout.AnchorDirectory);
            session.CreateFile(Path.Combine(_layout.AnchorDirectory, _layout.AnchorFileName(id)), pem);

            var hash = OpenSslSubjectHash.Compute(ca.SubjectName);
            foreach (var directory in _layout.HashDirectories.Where(Directory.Exists))
            {
                var fileName = $"harden-runner-{id}.pem";
                session.CreateFile(Path.Combine(directory, fileName), pem);
                session.CreateLink(FreeHashLink(directory, hash), fileName);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrustStoreException)
        {
            var undo = Uninstall(_state);
            throw new TrustStoreException(
                $"could not install the CA into the {_layout.Kind} trust store: {e.Message}"
                + (undo.Complete ? " (everything done so far was undone)" : $" (undoing failed too: {string.Join("; ", undo.Warnings)})"),
                e);
        }

        foreach (var keystore in _javaKeystores)
        {
            try
            {
                session.ImportIntoKeystore(keystore, $"harden-runner-{id}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrustStoreException or System.ComponentModel.Win32Exception)
            {
                warnings.Add($"Java keystore {keystore.KeystorePath} not changed: {e.Message}");
            }
        }

        if (FirstClosedAncestor(_state) is { } closed)
        {
            warnings.Add($"{closed} is not searchable by other users, so job processes cannot read {session.Manifest.CaPemPath} (NODE_EXTRA_CA_CERTS)");
        }

        var environment = new CaEnvironment(session.Manifest.CaPemPath, session.Manifest.BundlePath);
        return new TrustInstallation(
            _layout.Kind, session.Manifest.CaPemPath, session.Manifest.BundlePath, environment,
            [.. session.Manifest.Actions.Select(a => a.Path)], warnings, stopwatch.Elapsed);
    }

    /// <summary>
    /// Undoes the installation recorded in <paramref name="stateDirectory"/>: restores every changed file from its
    /// backup (or, when something else changed it during the run, removes only the CA's PEM block from it and keeps
    /// the rest), removes created files, links and directories and any links a rebuild made to them, and restores
    /// the Java keystores. Idempotent: with nothing recorded it does nothing. Needs nothing but the state directory.
    /// </summary>
    public static TrustRemoval Uninstall(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        var state = Path.GetFullPath(stateDirectory);
        var manifest = TrustManifest.Load(state);
        if (manifest is null)
        {
            return new TrustRemoval(false, [], [], true);
        }

        var undo = new Undo(state, manifest);
        undo.RemoveStrayLinks();
        var failed = new List<TrustAction>();
        foreach (var action in Enumerable.Reverse(manifest.Actions))
        {
            try
            {
                undo.Revert(action);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or TrustStoreException)
            {
                undo.Warnings.Add($"{action.Path}: {e.Message}");
                failed.Insert(0, action);
            }
        }

        if (failed.Count > 0)
        {
            manifest.Actions = failed;
            manifest.Save(state);
            return new TrustRemoval(true, undo.Restored, undo.Warnings, false);
        }

        DeleteIfExists(manifest.CaPemPath);
        var backups = Path.Combine(state, BackupDirectory);
        if (Directory.Exists(backups))
        {
            Directory.Delete(backups, recursive: true);
        }

        File.Delete(Path.Combine(state, TrustManifest.FileName));
        return new TrustRemoval(true, undo.Restored, undo.Warnings, true);
    }

    /// <summary>
    /// The recorded changes that are no longer as they were left (for the trust-store-tampered detection): a bundle,
    /// anchor, link or keystore changed or removed by something else. Empty when nothing is installed.
    /// </summary>
    public static IReadOnlyList<string> FindChanges(string stateDirectory)
    {
        var manifest = TrustManifest.Load(Path.GetFullPath(stateDirectory));
        if (manifest is null)
        {
            return [];
        }

        var changes = new List<string>();
        foreach (var action in manifest.Actions)
        {
            var changed = action.Kind switch
            {
                TrustActionKind.ModifiedFile or TrustActionKind.JavaKeystore or TrustActionKind.CreatedFile =>
                    action.After is not null && Sha256OrNull(action.Path) != action.After,
                TrustActionKind.CreatedLink => RootedPaths.LinkTarget(action.Path) != action.Target,
                TrustActionKind.CreatedDirectory => !Directory.Exists(action.Path),
                _ => false,
            };
            if (changed)
            {
                changes.Add(action.Path);
            }
        }

        return changes;
    }

    private void RecoverEarlierRun(List<string> warnings)
    {
        if (TrustManifest.Load(_state) is null)
        {
            return;
        }

        var earlier = Uninstall(_state);
        warnings.Add("removed a CA left installed by an earlier run that did not stop");
        warnings.AddRange(earlier.Warnings);
        if (!earlier.Complete)
        {
            throw new TrustStoreException(
                $"the CA of an earlier run could not be removed from the trust store: {string.Join("; ", earlier.Warnings)}");
        }
    }

    /// <summary>The first directory from / down to <paramref name="directory"/> that others cannot search (o+x), or null.</summary>
    private static string? FirstClosedAncestor(string directory)
    {
        var chain = new Stack<string>();
        for (var d = directory; d is not null; d = Path.GetDirectoryName(d))
        {
            chain.Push(d);
        }

        return chain.FirstOrDefault(d => !File.GetUnixFileMode(d).HasFlag(UnixFileMode.OtherExecute));
    }

    private static string FreeHashLink(string directory, string hash)
    {
        for (var n = 0; n < MaxHashSuffix; n++)
        {
            var candidate = Path.Combine(directory, $"{hash}.{n}");
            if (!RootedPaths.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new TrustStoreException($"{directory} has {MaxHashSuffix} certificates with subject hash {hash}");
    }

    internal static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static string? Sha256OrNull(string path) => File.Exists(path) ? Sha256(File.ReadAllBytes(path)) : null;

    private static void WritePublicFile(string path, string content)
    {
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, PublicFile);
    }

    private static void DeleteIfExists(string path)
    {
        if (RootedPaths.Exists(path) && !Directory.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>Makes changes, each recorded (write-ahead) in the manifest before it is made.</summary>
    private sealed class Session(string state, TrustManifest manifest)
    {
        public TrustManifest Manifest { get; } = manifest;

        public void Save() => Manifest.Save(state);

        public void AppendToFile(string path, string pem)
        {
            var before = File.ReadAllBytes(path);
            var action = Backup(TrustActionKind.ModifiedFile, path, before);
            var suffix = PemBundle.Suffix(before, pem);
            using (var file = new FileStream(path, FileMode.Append, FileAccess.Write))
            {
                file.Write(suffix);
            }

            action.After = Sha256([.. before, .. suffix]);
            Save();
        }

        public void EnsureDirectory(string directory)
        {
            var missing = new Stack<string>();
            for (var d = directory; !Directory.Exists(d); d = Path.GetDirectoryName(d)!)
            {
                missing.Push(d);
            }

            while (missing.TryPop(out var d))
            {
                Record(new TrustAction { Kind = TrustActionKind.CreatedDirectory, Path = d });
                Directory.CreateDirectory(d, PublicDirectory);
            }
        }

        public void CreateFile(string path, string content)
        {
            if (RootedPaths.Exists(path))
            {
                throw new TrustStoreException($"{path} already exists");
            }

            var bytes = System.Text.Encoding.ASCII.GetBytes(content);
            Record(new TrustAction { Kind = TrustActionKind.CreatedFile, Path = path, After = Sha256(bytes) });
            using (var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = PublicFile }))
            {
                file.Write(bytes);
            }
        }

        public void CreateLink(string path, string target)
        {
            Record(new TrustAction { Kind = TrustActionKind.CreatedLink, Path = path, Target = target });
            File.CreateSymbolicLink(path, target);
        }

        public void ImportIntoKeystore(JavaKeystore keystore, string alias)
        {
            var before = File.ReadAllBytes(keystore.KeystorePath);
            var action = Backup(TrustActionKind.JavaKeystore, keystore.KeystorePath, before);
            action.Keytool = keystore.KeytoolPath;
            action.Alias = alias;
            Save();
            Keytool.Import(keystore.KeytoolPath, keystore.KeystorePath, alias, Manifest.CaPemPath);
            action.After = Sha256(File.ReadAllBytes(keystore.KeystorePath));
            Save();
        }

        private TrustAction Backup(TrustActionKind kind, string path, byte[] before)
        {
            var name = $"{Manifest.Actions.Count:D3}-{Path.GetFileName(path)}";
            var backup = Path.Combine(state, BackupDirectory, name);
            using (var file = new FileStream(backup, FileMode.Create, FileAccess.Write))
            {
                file.Write(before);
                file.Flush(flushToDisk: true);
            }

            var action = new TrustAction { Kind = kind, Path = path, Backup = name, Before = Sha256(before) };
            Record(action);
            return action;
        }

        private void Record(TrustAction action)
        {
            Manifest.Actions.Add(action);
            Save();
        }
    }

    /// <summary>Reverts recorded changes, each checked against the file's current state so a repeat is harmless.</summary>
    private sealed class Undo(string state, TrustManifest manifest)
    {
        private readonly byte[] _der = Convert.FromBase64String(manifest.Certificate);

        public List<string> Restored { get; } = [];

        public List<string> Warnings { get; } = [];

        public void Revert(TrustAction action)
        {
            switch (action.Kind)
            {
                case TrustActionKind.ModifiedFile:
                    RevertFile(action);
                    break;
                case TrustActionKind.JavaKeystore:
                    RevertKeystore(action);
                    break;
                case TrustActionKind.CreatedFile:
                    if (RootedPaths.Exists(action.Path) && !Directory.Exists(action.Path))
                    {
                        File.Delete(action.Path);
                        Restored.Add(action.Path);
                    }

                    break;
                case TrustActionKind.CreatedLink:
                    if (RootedPaths.LinkTarget(action.Path) is not null)
                    {
                        File.Delete(action.Path);
                        Restored.Add(action.Path);
                    }

                    break;
                case TrustActionKind.CreatedDirectory:
                    if (Directory.Exists(action.Path))
                    {
                        if (Directory.EnumerateFileSystemEntries(action.Path).Any())
                        {
                            Warnings.Add($"{action.Path}: created for the CA but kept, because something else was put in it");
                        }
                        else
                        {
                            Directory.Delete(action.Path);
                            Restored.Add(action.Path);
                        }
                    }

                    break;
                default:
                    throw new TrustStoreException($"unknown action {action.Kind}");
            }
        }

        /// <summary>
        /// Links that a rebuild during the job (update-ca-certificates, openssl rehash) made to the CA's files, in
        /// the hashed directories: their names or targets carry the CA's id.
        /// </summary>
        public void RemoveStrayLinks()
        {
            var marker = $"harden-runner-{manifest.Id}";
            var recorded = manifest.Actions.Where(a => a.Kind is TrustActionKind.CreatedLink or TrustActionKind.CreatedFile)
                .Select(a => a.Path).ToHashSet(StringComparer.Ordinal);
            foreach (var directory in manifest.ScanDirectories.Where(Directory.Exists))
            {
                foreach (var entry in Directory.EnumerateFileSystemEntries(directory))
                {
                    if (recorded.Contains(entry) || RootedPaths.LinkTarget(entry) is not { } target)
                    {
                        continue;
                    }

                    if (target.Contains(marker, StringComparison.Ordinal) || Path.GetFileName(entry).Contains(marker, StringComparison.Ordinal))
                    {
                        File.Delete(entry);
                        Restored.Add(entry);
                        Warnings.Add($"{entry}: a link to the CA made during the run (a trust-store rebuild?) was removed");
                    }
                }
            }
        }

        private void RevertFile(TrustAction action)
        {
            var backup = ReadBackup(action);
            if (!File.Exists(action.Path))
            {
                WriteInPlace(action.Path, backup);
                Warnings.Add($"{action.Path}: was deleted during the run; restored from the backup");
                return;
            }

            var current = File.ReadAllBytes(action.Path);
            var currentHash = Sha256(current);
            if (currentHash == action.Before)
            {
                return;
            }

            var ours = action.After is null
                ? current.AsSpan().StartsWith(backup) // crashed while appending: whatever follows the original is ours
                : currentHash == action.After;
            if (ours)
            {
                WriteInPlace(action.Path, backup);
                return;
            }

            // something else rewrote the file during the run (a rebuild, a step adding its own root): keep its
            // change, take out only our certificate
            var stripped = PemBundle.Remove(current, _der);
            if (stripped.Length != current.Length)
            {
                WriteInPlace(action.Path, stripped);
            }

            Warnings.Add($"{action.Path}: changed by something else during the run; only the CA was removed from it");
        }

        private void RevertKeystore(TrustAction action)
        {
            if (!File.Exists(action.Path))
            {
                return;
            }

            var currentHash = Sha256(File.ReadAllBytes(action.Path));
            if (currentHash == action.Before)
            {
                return;
            }

            if (action.After is null || currentHash == action.After)
            {
                WriteInPlace(action.Path, ReadBackup(action));
                return;
            }

            // changed by something else too (e.g. the ca-certificates-java hook of a rebuild): delete our aliases
            var deleted = false;
            foreach (var alias in new[] { action.Alias!, $"debian:harden-runner-{manifest.Id}.pem" })
            {
                try
                {
                    Keytool.Delete(action.Keytool!, action.Path, alias);
                    deleted = true;
                }
                catch (Exception e) when (e is TrustStoreException or System.ComponentModel.Win32Exception)
                {
                    // the alias may not be there
                }
            }

            Warnings.Add(deleted
                ? $"{action.Path}: changed by something else during the run; only the CA's alias was deleted"
                : $"{action.Path}: changed by something else during the run and the CA's alias could not be deleted");
            if (deleted)
            {
                Restored.Add(action.Path);
            }
        }

        private byte[] ReadBackup(TrustAction action)
        {
            var path = Path.Combine(state, BackupDirectory, action.Backup ?? throw new TrustStoreException("no backup recorded"));
            if (!File.Exists(path))
            {
                throw new TrustStoreException($"the backup {path} is missing");
            }

            var bytes = File.ReadAllBytes(path);
            if (Sha256(bytes) != action.Before)
            {
                throw new TrustStoreException($"the backup {path} does not match the recorded hash");
            }

            return bytes;
        }

        /// <summary>Truncates and rewrites the file itself (same inode, owner, mode and labels), never a rename.</summary>
        private void WriteInPlace(string path, byte[] bytes)
        {
            using (var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write))
            {
                file.SetLength(0);
                file.Write(bytes);
            }

            Restored.Add(path);
        }
    }
}
