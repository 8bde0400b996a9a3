using HardenRunner.Trust;

namespace HardenRunner.Tests.Trust;

public sealed class RootedPathsTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("hr-rooted-");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void Resolve_AbsoluteAndRelativeLinks_StayInsideTheRoot()
    {
        var paths = new RootedPaths(_root.FullName);
        Directory.CreateDirectory(paths.Map("/real/dir"));
        File.WriteAllText(paths.Map("/real/dir/file"), "x");
        File.CreateSymbolicLink(paths.Map("/abs"), "/real/dir/file");
        File.CreateSymbolicLink(paths.Map("/rel"), "real/dir/../dir/file");
        Directory.CreateSymbolicLink(paths.Map("/dirlink"), "/real");
        File.CreateSymbolicLink(paths.Map("/chain"), "/dirlink/dir/file");
        File.CreateSymbolicLink(paths.Map("/escape"), "../../../../../etc/passwd");

        Assert.Equal(paths.Map("/real/dir/file"), paths.Resolve(paths.Map("/abs")));
        Assert.Equal(paths.Map("/real/dir/file"), paths.Resolve(paths.Map("/rel")));
        Assert.Equal(paths.Map("/real/dir/file"), paths.Resolve(paths.Map("/chain")));
        Assert.Equal(paths.Map("/etc/passwd"), paths.Resolve(paths.Map("/escape")));
        Assert.Equal(paths.Map("/missing/x"), paths.Resolve(paths.Map("/missing/x")));
    }

    [Fact]
    public void Resolve_LinkLoop_Throws()
    {
        var paths = new RootedPaths(_root.FullName);
        File.CreateSymbolicLink(paths.Map("/a"), "b");
        File.CreateSymbolicLink(paths.Map("/b"), "/a");

        Assert.Throws<IOException>(() => paths.Resolve(paths.Map("/a")));
    }

    [Fact]
    public void SystemRoot_MapsToItself()
    {
        Assert.Equal("/etc/ssl/certs", RootedPaths.System.Map("/etc/ssl/certs"));
        Assert.Equal("/", RootedPaths.System.Root);
        Assert.Throws<ArgumentException>(() => RootedPaths.System.Map("etc"));
    }
}
