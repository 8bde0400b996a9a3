using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Enumeration;
using System.Text;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// The source files of a workspace and their content fingerprints (SHA-256), taken eagerly so that "the content
/// changed" can be decided at close-write by comparing hashes (an identical rewrite is not an overwrite).
/// Source = the files git tracks in the checkout (<c>git ls-files -z --recurse-submodules</c>: tracked, never
/// ignored or untracked build output, files of initialised submodules included); when the workspace is not a git
/// checkout (or git is missing), every regular file present at start outside <c>.git/</c> (symlinked directories
/// are not followed).
/// </summary>
/// <remarks>
/// git runs as <c>git -c safe.directory=* -c core.fsmonitor=false</c> with GIT_* variables cleared, so a job step
/// cannot make the appliance run a command of its choosing through the repository's config (fsmonitor hook).
/// Not thread-safe: built once, then owned by the monitor's consumer thread (<see cref="Refresh"/> included).
/// </remarks>
public sealed class SourceInventory
{
    public const string GitMethod = "git";
    public const string FilesAtStartMethod = "files-at-start";

    private static readonly TimeSpan GitTimeout = TimeSpan.FromSeconds(120);

    private readonly Dictionary<string, SourceFile> _files = new(StringComparer.Ordinal);
    private readonly long _maxHashedBytes;
    private bool _built;

    private SourceInventory(string workspace, long maxHashedBytes)
    {
        Workspace = workspace;
        _maxHashedBytes = maxHashedBytes;
    }

    /// <summary>The workspace, canonical (symlinks resolved).</summary>
    public string Workspace { get; }

    /// <summary><see cref="GitMethod"/> or <see cref="FilesAtStartMethod"/>.</summary>
    public string Method { get; private set; } = FilesAtStartMethod;

    /// <summary>Why the files-at-start method was used (not a git checkout, git missing or failing), or null.</summary>
    public string? MethodReason { get; private set; }

    /// <summary>The git directory (absolute) in git mode, else null.</summary>
    public string? GitDirectory { get; private set; }

    public int Count => _files.Count;

    public IEnumerable<SourceFile> Files => _files.Values;

    /// <summary>Time spent listing (git ls-files or the directory walk) in the last build or refresh.</summary>
    public TimeSpan ListElapsed { get; private set; }

    /// <summary>Time spent fingerprinting in the last build or refresh.</summary>
    public TimeSpan HashElapsed { get; private set; }

    /// <summary>Bytes hashed in the last build or refresh.</summary>
    public long HashedBytes { get; private set; }

    /// <summary>Lists and fingerprints the source files of <paramref name="workspace"/>.</summary>
    /// <param name="workspace">The workspace directory (resolved to its canonical path).</param>
    /// <param name="maxHashedBytes">Larger files are fingerprinted by size and mtime instead of content.</param>
    public static SourceInventory Build(string workspace, long maxHashedBytes = 64L * 1024 * 1024)
    {
        ArgumentException.ThrowIfNullOrEmpty(workspace);
        var canonical = FanotifyInterop.Canonical(workspace) ?? throw new DirectoryNotFoundException($"workspace {workspace} does not exist");
        if (!Directory.Exists(canonical))
        {
            throw new DirectoryNotFoundException($"workspace {canonical} is not a directory");
        }

        var inventory = new SourceInventory(canonical, maxHashedBytes);
        inventory.Refresh();
        return inventory;
    }

    public bool TryGet(string path, out SourceFile file) => _files.TryGetValue(path, out file!);

    /// <summary>Source files at or below the directory <paramref name="directory"/>.</summary>
    public IEnumerable<SourceFile> Under(string directory) => _files.Values.Where(f => WatchScope.IsUnder(f.Path, directory));

    /// <summary>
    /// Lists again (after a checkout changed the index, say): new source files are fingerprinted now, files no longer
    /// listed are dropped, files still listed keep what the monitor knows of them. Returns (added, removed).
    /// </summary>
    public (int Added, int Removed) Refresh()
    {
        var list = Stopwatch.StartNew();
        var (relative, method, reason, gitDir) = List(Workspace);
        ListElapsed = list.Elapsed;
        if (method == FilesAtStartMethod && _built)
        {
            // without git the set is fixed at start: files that appeared later are build output, not source
            // (and a checkout that lost its git directory keeps the set it had)
            HashElapsed = TimeSpan.Zero;
            HashedBytes = 0;
            return (0, 0);
        }

        _built = true;

        Method = method;
        MethodReason = reason;
        GitDirectory = gitDir;
        var wanted = new HashSet<string>(StringComparer.Ordinal);
        var toHash = new List<(string Path, string Relative)>();
        foreach (var rel in relative)
        {
            var path = Workspace + "/" + rel;
            if (!wanted.Add(path) || _files.ContainsKey(path))
            {
                continue;
            }

            toHash.Add((path, rel));
        }

        var removed = 0;
        foreach (var gone in _files.Keys.Where(p => !wanted.Contains(p)).ToList())
        {
            _files.Remove(gone);
            removed++;
        }

        var hash = Stopwatch.StartNew();
        var results = new ConcurrentBag<SourceFile>();
        long bytes = 0;
        Parallel.ForEach(toHash, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) }, item =>
        {
            var fp = FileFingerprint.Compute(item.Path, _maxHashedBytes);
            if (fp is not null && fp.StartsWith("sha256:", StringComparison.Ordinal))
            {
                try
                {
                    Interlocked.Add(ref bytes, new FileInfo(item.Path).Length);
                }
                catch (IOException)
                {
                }
            }

            results.Add(new SourceFile(item.Path, item.Relative, fp));
        });
        foreach (var f in results)
        {
            _files[f.Path] = f;
        }

        HashElapsed = hash.Elapsed;
        HashedBytes = bytes;
        return (results.Count, removed);
    }

    private static (List<string> Relative, string Method, string? Reason, string? GitDir) List(string workspace)
    {
        var probe = RunGit(workspace, "rev-parse", "--is-inside-work-tree", "--absolute-git-dir");
        if (probe.Error is null)
        {
            var lines = Encoding.UTF8.GetString(probe.Output).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            if (lines.Length >= 2 && lines[0] == "true")
            {
                var ls = RunGit(workspace, "ls-files", "-z", "--recurse-submodules");
                if (ls.Error is null)
                {
                    var files = Encoding.UTF8.GetString(ls.Output)
                        .Split('\0', StringSplitOptions.RemoveEmptyEntries)
                        .ToList();
                    return (files, GitMethod, null, lines[1]);
                }

                return (Walk(workspace), FilesAtStartMethod, "git ls-files failed: " + ls.Error, null);
            }

            return (Walk(workspace), FilesAtStartMethod, "not inside a git work tree", null);
        }

        return (Walk(workspace), FilesAtStartMethod, probe.Error, null);
    }

    private static List<string> Walk(string workspace)
    {
        var options = new EnumerationOptions
        {
            RecurseSubdirectories = true,
            IgnoreInaccessible = true,
            AttributesToSkip = 0,
            ReturnSpecialDirectories = false,
        };
        var walk = new FileSystemEnumerable<string>(
            workspace,
            (ref FileSystemEntry e) => Path.GetRelativePath(workspace, e.ToFullPath()).Replace('\\', '/'),
            options)
        {
            ShouldIncludePredicate = (ref FileSystemEntry e) => !e.IsDirectory && (e.Attributes & FileAttributes.ReparsePoint) == 0,
            ShouldRecursePredicate = (ref FileSystemEntry e) =>
                (e.Attributes & FileAttributes.ReparsePoint) == 0 && !(e.FileName.SequenceEqual(".git") && e.Directory.SequenceEqual(workspace.AsSpan())),
        };
        return [.. walk];
    }

    private static (byte[] Output, string? Error) RunGit(string workspace, params string[] args)
    {
        var psi = new ProcessStartInfo("git")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = workspace,
        };
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("GIT_", StringComparison.Ordinal)).ToList())
        {
            psi.Environment.Remove(key);
        }

        psi.Environment["GIT_TERMINAL_PROMPT"] = "0";
        psi.Environment["GIT_OPTIONAL_LOCKS"] = "0";
        foreach (var a in (string[])["-c", "safe.directory=*", "-c", "core.fsmonitor=false", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        Process p;
        try
        {
            p = Process.Start(psi) ?? throw new InvalidOperationException("git did not start");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return ([], "git is not available: " + e.Message);
        }

        using (p)
        {
            p.StandardInput.Close();
            var stderr = p.StandardError.ReadToEndAsync();
            using var output = new MemoryStream();
            var copy = p.StandardOutput.BaseStream.CopyToAsync(output);
            if (!p.WaitForExit(GitTimeout) || !copy.Wait(GitTimeout))
            {
                try
                {
                    p.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }

                return ([], $"git {args[0]} timed out after {GitTimeout.TotalSeconds:0} s");
            }

            var err = stderr.Wait(TimeSpan.FromSeconds(5)) ? stderr.Result.Trim() : "";
            return p.ExitCode == 0
                ? (output.ToArray(), null)
                : ([], $"git {args[0]} exited {p.ExitCode}: {(err.Length > 200 ? err[..200] : err)}");
        }
    }
}
