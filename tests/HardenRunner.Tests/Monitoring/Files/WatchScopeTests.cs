using HardenRunner.Monitoring.Files;

namespace HardenRunner.Tests.Monitoring.Files;

public sealed class WatchScopeTests
{
    private readonly WatchScope _scope = new(["/work/ws", "/etc/sudoers.d"], ["/etc/resolv.conf", "/etc/docker/daemon.json"]);

    [Theory]
    [InlineData("/work/ws", true)]
    [InlineData("/work/ws/src/a.c", true)]
    [InlineData("/work/wsx/a.c", false)]
    [InlineData("/work/w", false)]
    [InlineData("/etc/resolv.conf", true)]
    [InlineData("/etc/resolv.conf.bak", false)]
    [InlineData("/etc/sudoers.d/runner", true)]
    [InlineData("/etc/passwd", false)]
    [InlineData("/tmp/x", false)]
    public void Matches_Files(string path, bool expected) => Assert.Equal(expected, _scope.Matches(path, isDirectory: false));

    [Fact]
    public void Matches_AncestorDirectoryOfAControlFile_OnlyAsDirectory()
    {
        // mkdir /etc/docker (or mv of it) matters for /etc/docker/daemon.json; a file named /etc/docker does not
        Assert.True(_scope.Matches("/etc/docker", isDirectory: true));
        Assert.False(_scope.Matches("/etc/docker", isDirectory: false));
        Assert.True(_scope.Matches("/work", isDirectory: true));
    }

    [Theory]
    [InlineData("/work/ws/obj", true)]
    [InlineData("/etc", true)]
    [InlineData("/etc/docker", true)]
    [InlineData("/", true)]
    [InlineData("/usr/lib", false)]
    [InlineData("/work/other", false)]
    public void DirectoryMatters(string dir, bool expected) => Assert.Equal(expected, _scope.DirectoryMatters(dir));

    [Fact]
    public void Join_HandlesRootAndDot()
    {
        Assert.Equal("/a", WatchScope.Join("/", "a"));
        Assert.Equal("/d/a", WatchScope.Join("/d", "a"));
        Assert.Equal("/d", WatchScope.Join("/d", "."));
    }

    [Fact]
    public void Constructor_RelativePath_Throws() => Assert.Throws<ArgumentException>(() => new WatchScope(["ws"], []));
}
