using HardenRunner.Dashboard;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

namespace HardenRunner.Tests.Dashboard;

/// <summary>The per-repository access mapping (<c>--access FILE</c>): parsing and matching.</summary>
public sealed class DashboardAccessTests
{
    private const string Sample = """
        # who sees what
        users:
          alice: [acme/web, acme/api]
          bob:
            - other-org/*
          root: ["*"]
          nobody: []
        """;

    [Theory]
    [InlineData("alice", "acme/web", true)]
    [InlineData("alice", "ACME/Web", true)]
    [InlineData("alice", "acme/website", false)]
    [InlineData("alice", "acme/other", false)]
    [InlineData("alice", null, false)]
    [InlineData("bob", "other-org/anything", true)]
    [InlineData("bob", "other-org-2/anything", false)]
    [InlineData("bob", "acme/web", false)]
    [InlineData("root", "acme/web", true)]
    [InlineData("root", null, true)]
    [InlineData("nobody", "acme/web", false)]
    [InlineData("mallory", "acme/web", false)]
    [InlineData("Alice", "acme/web", false)] // user names are exact
    public void Allows_MatchesRepositoryPatterns(string user, string? repository, bool allowed)
    {
        var access = DashboardAccess.Parse(Sample);
        Assert.Equal(allowed, access.Allows(user, repository));
        Assert.Equal(allowed, access.Allows(user, new RunInfo("r", DateTimeOffset.UnixEpoch, EgressMode.Audit) { Repository = repository }));
    }

    [Fact]
    public void Knows_OnlyConfiguredUsers()
    {
        var access = DashboardAccess.Parse(Sample);
        Assert.True(access.Knows("nobody"));
        Assert.False(access.Knows("mallory"));
        Assert.Equal(["alice", "bob", "nobody", "root"], access.Users.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("", "one YAML mapping")]
    [InlineData("- alice", "one YAML mapping")]
    [InlineData("users: [alice]", "'users' must map")]
    [InlineData("admins: {}", "unknown key 'admins'")]
    [InlineData("other: 1\n", "unknown key 'other'")]
    [InlineData("users:\n  alice: acme/web\n", "must be a list")]
    [InlineData("users:\n  alice: [acme]\n", "'acme' is not a repository pattern")]
    [InlineData("users:\n  alice: [acme/*/x]\n", "is not a repository pattern")]
    [InlineData("users:\n  alice: ['acme/w*']\n", "is not a repository pattern")]
    [InlineData("users:\n  alice: ['*/web']\n", "is not a repository pattern")]
    [InlineData("users:\n  alice: [[acme/web]]\n", "must be a plain value")]
    [InlineData("users:\n  alice: [acme/web]\n  alice: [x/y]\n", "")]
    [InlineData("users: {alice: [acme/web]\n", "not valid YAML")]
    public void BadFiles_AreRefused_WithAReason(string yaml, string message)
    {
        var ex = Assert.Throws<FormatException>(() => DashboardAccess.Parse(yaml));
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadPattern_NamesItsLine()
    {
        var ex = Assert.Throws<FormatException>(() => DashboardAccess.Parse("users:\n  alice:\n    - acme/web\n    - bad pattern\n"));
        Assert.Contains("line 4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Options_RequireMappingAndHeaderTogether()
    {
        var access = DashboardAccess.Parse(Sample);
        Assert.Null(new DashboardOptions().AccessError());
        Assert.Null(new DashboardOptions { Access = access, AuthHeader = "X-Forwarded-User" }.AccessError());
        Assert.Contains("--access needs --auth-header", new DashboardOptions { Access = access }.AccessError(), StringComparison.Ordinal);
        Assert.Contains("--auth-header needs --access", new DashboardOptions { AuthHeader = "X-Forwarded-User" }.AccessError(), StringComparison.Ordinal);
        Assert.Contains("not a header name", new DashboardOptions { Access = access, AuthHeader = "X User:" }.AccessError(), StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ReadsAFile()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("hr-access-").FullName, "access.yml");
        try
        {
            File.WriteAllText(path, Sample);
            Assert.True(DashboardAccess.Load(path).Allows("bob", "other-org/x"));
            Assert.Throws<FileNotFoundException>(() => DashboardAccess.Load(path + ".missing"));
            File.WriteAllText(path, Sample + "#" + new string('x', (int)DashboardAccess.MaxFileBytes));
            Assert.Contains("the limit is", Assert.Throws<FormatException>(() => DashboardAccess.Load(path)).Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
