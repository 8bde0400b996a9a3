using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Tests.Matching;

public sealed class PathPatternTests
{
    [Theory]
    // literals
    [InlineData("/", "/", true)]
    [InlineData("/", "/a", false)]
    [InlineData("/user", "/user", true)]
    [InlineData("/user", "/user/", true)]
    [InlineData("/user/", "/user", true)]
    [InlineData("/user", "/users", false)]
    [InlineData("/user", "/use", false)]
    [InlineData("/user", "/user/repos", false)]
    // case-insensitive segments: case games cannot dodge a rule
    [InlineData("/repos/acme/web", "/REPOS/Acme/WEB", true)]
    [InlineData("/Gists/**", "/gists/1", true)]
    // '*' is exactly one non-empty segment
    [InlineData("/repos/*/web", "/repos/acme/web", true)]
    [InlineData("/repos/*/web", "/repos/acme/x/web", false)]
    [InlineData("/repos/*/web", "/repos/web", false)]
    [InlineData("/repos/*", "/repos/acme", true)]
    [InlineData("/repos/*", "/repos/acme/", true)]
    [InlineData("/repos/*", "/repos/", false)]
    [InlineData("/repos/*", "/repos", false)]
    [InlineData("/*", "/", false)]
    [InlineData("/repos/acme/web/issues/*/comments", "/repos/acme/web/issues/12/comments", true)]
    [InlineData("/repos/acme/web/issues/*/comments", "/repos/acme/web/issues/12/13/comments", false)]
    [InlineData("/repos/acme/web/issues/*/comments", "/repos/acme/web/issues/comments", false)]
    // '**' is any number of segments, zero included
    [InlineData("/**", "/", true)]
    [InlineData("/**", "/a/b/c", true)]
    [InlineData("/repos/acme/**", "/repos/acme", true)]
    [InlineData("/repos/acme/**", "/repos/acme/", true)]
    [InlineData("/repos/acme/**", "/repos/acme/web/pulls/1", true)]
    [InlineData("/repos/acme/**", "/repos/acmeX/web", false)]
    [InlineData("/repos/acme/**", "/repos/acm", false)]
    [InlineData("/repos/acme/**", "/repos/other/acme/x", false)]
    [InlineData("/**/comments", "/comments", true)]
    [InlineData("/**/comments", "/a/b/c/comments", true)]
    [InlineData("/**/comments", "/a/b/c/comments/1", false)]
    [InlineData("/a/**/b/**/c", "/a/b/c", true)]
    [InlineData("/a/**/b/**/c", "/a/x/y/b/z/c", true)]
    [InlineData("/a/**/b/**/c", "/a/x/y/z/c", false)]
    [InlineData("/repos/*/*/git/**", "/repos/acme/web/git/refs/heads/main", true)]
    // a glob within one segment
    [InlineData("/docs/*.md", "/docs/readme.md", true)]
    [InlineData("/docs/*.md", "/docs/README.MD", true)]
    [InlineData("/docs/*.md", "/docs/.md", true)]
    [InlineData("/docs/*.md", "/docs/readme.txt", false)]
    [InlineData("/docs/*.md", "/docs/a/readme.md", false)]
    [InlineData("/v*/status", "/v2/status", true)]
    [InlineData("/v*/status", "/x2/status", false)]
    [InlineData("/a/b*c/d", "/a/bc/d", true)]
    [InlineData("/a/b*c/d", "/a/bxyzc/d", true)]
    [InlineData("/a/b*c/d", "/a/bxyz/d", false)]
    public void Matches_NormalisedPath(string pattern, string path, bool expected)
    {
        Assert.True(PathPattern.TryParse(pattern, out var p, out var error), error);
        Assert.Equal(expected, p!.Matches(path));
    }

    [Theory]
    [InlineData("/repos/acme/**", "/repos/acme/**")]
    [InlineData("/repos//acme/./**", "/repos/acme/**")]
    [InlineData("/repos/acme/../other/*", "/repos/other/*")]
    [InlineData("/%61pi/x", "/api/x")]
    [InlineData("/a/", "/a")]
    [InlineData("/", "/")]
    public void TryParse_NormalisesThePatternLikeARequestPath(string pattern, string expectedText)
    {
        Assert.True(PathPattern.TryParse(pattern, out var p, out var error), error);
        Assert.Equal(expectedText, p!.Text);
    }

    [Theory]
    [InlineData("", "must start with '/'")]
    [InlineData("repos/acme", "must start with '/'")]
    [InlineData("*", "must start with '/'")]
    [InlineData("/a?x=1", "query or fragment")]
    [InlineData("/a#x", "query or fragment")]
    [InlineData("/a/b**", "'**' must be a whole segment")]
    [InlineData("/a/**b/c", "'**' must be a whole segment")]
    [InlineData("/a/*b*/c", "one '*' at most")]
    [InlineData("/../a", "cannot be normalised")]
    [InlineData("/a%2Fb", "cannot be normalised")]
    [InlineData("/a%", "cannot be normalised")]
    public void TryParse_InvalidPattern_ExplainsWhy(string pattern, string expectedFragment)
    {
        Assert.False(PathPattern.TryParse(pattern, out var p, out var error));
        Assert.Null(p);
        Assert.Contains(expectedFragment, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Matches_ManyDoubleStarsOnALongPath_StaysFast()
    {
        // an attacker controls the path; the pattern must not make matching explode
        Assert.True(PathPattern.TryParse("/**/a/**/a/**/a/**/b", out var p, out _));
        var path = string.Concat(Enumerable.Repeat("/a", PathNormalizer.MaxSegments));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(p!.Matches(path));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"matching took {watch.Elapsed}");
    }

    [Fact]
    public void Matches_AgreesWithNaiveReferenceOnRandomInputs()
    {
        // seeded, so a failure is reproducible; the reference is the obvious (exponential) recursive definition
        var random = new Random(20240601);
        string[] patternPieces = ["a", "b", "*", "**", "a*", "*b"];
        string[] pathPieces = ["a", "b", "ab", "ba", "aa"];
        for (var i = 0; i < 3000; i++)
        {
            var pattern = Enumerable.Range(0, random.Next(0, 6)).Select(_ => patternPieces[random.Next(patternPieces.Length)]).ToArray();
            var path = Enumerable.Range(0, random.Next(0, 7)).Select(_ => pathPieces[random.Next(pathPieces.Length)]).ToArray();
            var patternText = "/" + string.Join('/', pattern);
            var pathText = "/" + string.Join('/', path);
            Assert.True(PathPattern.TryParse(patternText, out var p, out var error), error);
            Assert.True(
                Reference(pattern, 0, path, 0) == p!.Matches(pathText),
                $"pattern {patternText} path {pathText}: expected {Reference(pattern, 0, path, 0)}");
        }
    }

    private static bool Reference(string[] pattern, int p, string[] path, int s)
    {
        if (p == pattern.Length)
        {
            return s == path.Length;
        }

        if (pattern[p] == "**")
        {
            for (var k = s; k <= path.Length; k++)
            {
                if (Reference(pattern, p + 1, path, k))
                {
                    return true;
                }
            }

            return false;
        }

        if (s == path.Length)
        {
            return false;
        }

        var segment = path[s];
        var star = pattern[p].IndexOf('*', StringComparison.Ordinal);
        var ok = star < 0
            ? string.Equals(pattern[p], segment, StringComparison.OrdinalIgnoreCase)
            : segment.Length >= pattern[p].Length - 1
                && segment.StartsWith(pattern[p][..star], StringComparison.OrdinalIgnoreCase)
                && segment.EndsWith(pattern[p][(star + 1)..], StringComparison.OrdinalIgnoreCase);
        return ok && Reference(pattern, p + 1, path, s + 1);
    }
}
