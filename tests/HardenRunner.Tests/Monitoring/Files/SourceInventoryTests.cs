using System.Diagnostics;
using HardenRunner.Monitoring.Files;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Monitoring.Files;

public sealed class SourceInventoryTests(ITestOutputHelper output) : IDisposable
{
    private readonly FileMonitorHarness _h = FileMonitorHarness.Create();

    [Fact]
    public void Build_GitCheckout_TrackedFilesOnly_NotIgnoredOrUntracked()
    {
        _h.WithGitRepo(new Dictionary<string, string> { ["src/a.c"] = "a", ["src/b.c"] = "b", ["README"] = "r" });
        File.WriteAllText(_h.PathOf("debug.log"), "ignored by *.log");
        Directory.CreateDirectory(_h.PathOf("bin"));
        File.WriteAllText(_h.PathOf("bin/app.dll"), "ignored by bin/");
        File.WriteAllText(_h.PathOf("new.c"), "untracked");

        var inv = SourceInventory.Build(_h.Workspace);

        Assert.Equal(SourceInventory.GitMethod, inv.Method);
        Assert.Equal(_h.PathOf(".git"), inv.GitDirectory);
        Assert.Equal(
            [".gitignore", "README", "src/a.c", "src/b.c"],
            inv.Files.Select(f => f.RelativePath).Order(StringComparer.Ordinal).ToArray());
        Assert.True(inv.TryGet(_h.PathOf("src/a.c"), out var a));
        Assert.Equal(FileFingerprint.Compute(_h.PathOf("src/a.c"), 1 << 20), a.Baseline);
        Assert.False(inv.TryGet(_h.PathOf("new.c"), out _));
        Assert.False(inv.TryGet(_h.PathOf("debug.log"), out _));
    }

    [Fact]
    public void Build_NotAGitCheckout_EveryRegularFilePresentAtStart_ExceptDotGit()
    {
        _h.WithFiles(new Dictionary<string, string> { ["a.txt"] = "a", ["sub/b.txt"] = "b", [".git/config"] = "not a repository" });
        File.CreateSymbolicLink(_h.PathOf("link"), _h.PathOf("a.txt"));

        var inv = SourceInventory.Build(_h.Workspace);

        Assert.Equal(SourceInventory.FilesAtStartMethod, inv.Method);
        Assert.NotNull(inv.MethodReason);
        Assert.Equal(["a.txt", "sub/b.txt"], inv.Files.Select(f => f.RelativePath).Order(StringComparer.Ordinal).ToArray());

        // later files are not source without git
        File.WriteAllText(_h.PathOf("c.txt"), "c");
        Assert.Equal((0, 0), inv.Refresh());
        Assert.Equal(2, inv.Count);
    }

    [Fact]
    public void Refresh_AfterCheckoutIntoAnEmptyWorkspace_SwitchesToGitAndFingerprintsNewFiles()
    {
        var inv = SourceInventory.Build(_h.Workspace);
        Assert.Equal(0, inv.Count);

        _h.WithGitRepo(new Dictionary<string, string> { ["x.c"] = "x" });
        var (added, removed) = inv.Refresh();

        Assert.Equal(SourceInventory.GitMethod, inv.Method);
        Assert.Equal(2, added); // x.c and .gitignore
        Assert.Equal(0, removed);
        Assert.True(inv.TryGet(_h.PathOf("x.c"), out var x));
        Assert.NotNull(x.Baseline);

        _h.Git("rm", "-q", "x.c");
        Assert.Equal((0, 1), inv.Refresh());
    }

    [Fact]
    public void Build_Submodule_FilesOfTheInitialisedSubmoduleAreSource()
    {
        var sub = Path.Combine(_h.Root, "sub");
        Directory.CreateDirectory(sub);
        File.WriteAllText(Path.Combine(sub, "lib.c"), "lib");
        Run(sub, "git", "init", "-q");
        Run(sub, "git", "add", "-A");
        Run(sub, "git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "s");
        _h.WithGitRepo(new Dictionary<string, string> { ["main.c"] = "m" });
        _h.Git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor/sub");

        var inv = SourceInventory.Build(_h.Workspace);

        Assert.True(inv.TryGet(_h.PathOf("vendor/sub/lib.c"), out _));
        Assert.True(inv.TryGet(_h.PathOf("main.c"), out _));
    }

    [Fact]
    public void Build_TenThousandFileRepository_Measured()
    {
        const int count = 10_000;
        var sw = Stopwatch.StartNew();
        var rng = new Random(5);
        var files = new Dictionary<string, string>();
        for (var i = 0; i < count; i++)
        {
            files[$"src/m{i % 100:D3}/f{i:D5}.cs"] = new string((char)('a' + (i % 26)), 500 + rng.Next(3500));
        }

        _h.WithGitRepo(files);
        var generate = sw.Elapsed;

        var runs = new List<(TimeSpan Total, TimeSpan List, TimeSpan Hash, long Bytes)>();
        for (var run = 0; run < 3; run++)
        {
            sw.Restart();
            var inv = SourceInventory.Build(_h.Workspace);
            runs.Add((sw.Elapsed, inv.ListElapsed, inv.HashElapsed, inv.HashedBytes));
            Assert.Equal(count + 1, inv.Count);
        }

        output.WriteLine($"generated and committed {count} files in {generate.TotalSeconds:0.0} s");
        foreach (var r in runs)
        {
            output.WriteLine(
                $"inventory: total {r.Total.TotalMilliseconds:0} ms (git ls-files {r.List.TotalMilliseconds:0} ms, sha256 {r.Hash.TotalMilliseconds:0} ms, {r.Bytes / 1e6:0.0} MB, {Environment.ProcessorCount} threads)");
        }
    }

    public void Dispose() => _h.Dispose();

    private static void Run(string dir, string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { WorkingDirectory = dir, UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000) && p.ExitCode == 0, err);
    }
}
