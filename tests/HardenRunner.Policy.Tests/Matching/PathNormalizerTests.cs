using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Tests.Matching;

public sealed class PathNormalizerTests
{
    public static TheoryData<string, string> Normalisable => new()
    {
        { "/", "/" },
        { "/a", "/a" },
        { "/a/b/c", "/a/b/c" },
        { "/a/", "/a/" },
        // repeated slashes fold
        { "//", "/" },
        { "///a", "/a" },
        { "/a//b", "/a/b" },
        { "/a///b//", "/a/b/" },
        // dot segments resolve
        { "/./a", "/a" },
        { "/a/./b", "/a/b" },
        { "/a/.", "/a/" },
        { "/a/b/..", "/a/" },
        { "/a/b/../c", "/a/c" },
        { "/repos/acme/../../gists", "/gists" },
        { "/repos/acme/web/../../other/x", "/repos/other/x" },
        { "/a/..", "/" },
        { "/a/../", "/" },
        // percent-decoding of unreserved characters only, so every spelling of a name compares equal
        { "/%61", "/a" },
        { "/a/%2e%2e/b", "/b" },
        { "/a/%2E%2E/b", "/b" },
        { "/a/.%2e/b", "/b" },
        { "/a/%2e/b", "/a/b" },
        { "/%7euser", "/~user" },
        { "/%41%42%2D%5F%2E%7E", "/AB-_.~" },
        { "/repos/acme/%67ists", "/repos/acme/gists" },
        // reserved characters stay encoded, with upper-case hex digits
        { "/a%20b", "/a%20b" },
        { "/a%3bb", "/a%3Bb" },
        { "/a%40b", "/a%40b" },
        { "/a%25b", "/a%25b" },
        { "/a%25zz", "/a%25zz" },
        // query and fragment are cut before normalisation
        { "/a?b=/../../c", "/a" },
        { "/a#../../b", "/a" },
        { "/a/b?", "/a/b" },
        { "/a;b=c/d", "/a;b=c/d" },
        { "/...", "/..." },
        { "/a/..b/c", "/a/..b/c" },
    };

    public static TheoryData<string> NotNormalisable => new()
    {
        "",
        "a/b",
        "*",
        "https://example.com/a",
        // '..' above the root, in any spelling
        "/..",
        "/../a",
        "/a/../..",
        "/a/../../b",
        "/%2e%2e",
        "/%2e%2e/etc/passwd",
        "/a/%2E%2E/%2e%2e/b",
        "/.%2E/x",
        // encoded separators
        "/a%2Fb",
        "/a%2fb",
        "/repos/acme%2F..%2F..%2Fgists",
        "/a%5Cb",
        "/a%5cb",
        "/a\\b",
        "/a/..\\..\\b",
        // double encoding
        "/%252e%252e/x",
        "/a%252Fb",
        "/a%2541",
        // control and non-ASCII characters
        "/a%00b",
        "/a%0Ab",
        "/a%0d%0aHost:x",
        "/a%7Fb",
        "/a\u0000b",
        "/a\tb",
        "/a b",
        "/caf\u00e9",
        "/a\u2215b",
        // malformed escapes
        "/a%",
        "/a%2",
        "/a%g1",
        "/a%1g",
        // dot segments carrying parameters (Tomcat-style '..;')
        "/a/..;/b",
        "/a/..;x/b",
        "/a/.;/b",
        "/a/%2e%2e;/b",
    };

    [Theory]
    [MemberData(nameof(Normalisable))]
    public void Normalize_ResolvesToCanonicalPath(string path, string expected) =>
        Assert.Equal(expected, PathNormalizer.Normalize(path));

    [Theory]
    [MemberData(nameof(NotNormalisable))]
    public void Normalize_RefusesPathsThatCannotBeNormalisedSafely(string path) =>
        Assert.Null(PathNormalizer.Normalize(path));

    [Theory]
    [MemberData(nameof(Normalisable))]
    public void Normalize_IntoBufferOfInputLength_DoesNotOverflow(string path, string expected)
    {
        // the contract: a destination as long as the input (at least 1) is enough
        var buffer = new char[Math.Max(1, path.Length)];
        var n = PathNormalizer.Normalize(path.AsSpan(), buffer);
        Assert.Equal(expected, new string(buffer, 0, n));
    }

    [Fact]
    public void Normalize_TooLongPath_IsRefused()
    {
        var path = "/" + new string('a', PathNormalizer.MaxLength);
        Assert.Null(PathNormalizer.Normalize(path));
    }

    [Fact]
    public void Normalize_TooManySegments_IsRefused()
    {
        var ok = string.Concat(Enumerable.Repeat("/a", PathNormalizer.MaxSegments));
        var tooMany = ok + "/a";
        Assert.Equal(ok, PathNormalizer.Normalize(ok));
        Assert.Null(PathNormalizer.Normalize(tooMany));
    }
}
