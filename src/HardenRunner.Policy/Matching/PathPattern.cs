namespace HardenRunner.Policy.Matching;

/// <summary>
/// A path pattern of a layer-7 rule: <c>*</c> is exactly one segment, <c>**</c> any number of segments (zero included),
/// <c>v*</c> within a segment is a glob over that segment. Segments compare case-insensitively, so that case games
/// cannot dodge a deny rule (GitHub, like many APIs, treats owner and repository names case-insensitively).
/// A trailing slash is ignored on both sides.
/// </summary>
public sealed class PathPattern
{
    private readonly Segment[] _segments;

    private PathPattern(string text, Segment[] segments)
    {
        Text = text;
        _segments = segments;
    }

    public string Text { get; }

    public static bool TryParse(string text, out PathPattern? pattern, out string? error)
    {
        pattern = null;
        error = null;
        if (string.IsNullOrEmpty(text) || text[0] != '/')
        {
            error = $"path '{text}' must start with '/'";
            return false;
        }

        if (text.IndexOfAny(['?', '#']) >= 0)
        {
            error = $"path '{text}' must not contain a query or fragment ('?', '#'); rules match the path only";
            return false;
        }

        var normalized = PathNormalizer.Normalize(text);
        if (normalized is null)
        {
            error = $"path '{text}' cannot be normalised (encoded '/', '..' above the root, control characters or bad escapes)";
            return false;
        }

        var parts = normalized.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var segments = new Segment[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            var p = parts[i];
            if (p == "**")
            {
                segments[i] = new Segment(SegmentKind.DoubleStar, "", "");
            }
            else if (p == "*")
            {
                segments[i] = new Segment(SegmentKind.Star, "", "");
            }
            else if (p.Contains("**", StringComparison.Ordinal))
            {
                error = $"path '{text}': '**' must be a whole segment ('/a/**', not '/a/b**')";
                return false;
            }
            else if (p.Count(c => c == '*') > 1)
            {
                error = $"path '{text}': a segment may hold one '*' at most";
                return false;
            }
            else if (p.Contains('*', StringComparison.Ordinal))
            {
                var star = p.IndexOf('*', StringComparison.Ordinal);
                segments[i] = new Segment(SegmentKind.Glob, p[..star], p[(star + 1)..]);
            }
            else
            {
                segments[i] = new Segment(SegmentKind.Literal, p, "");
            }
        }

        pattern = new PathPattern("/" + string.Join('/', parts), segments);
        return true;
    }

    /// <summary>Matches a path that <see cref="PathNormalizer"/> has already normalised. Allocation-free.</summary>
    public bool Matches(ReadOnlySpan<char> normalizedPath)
    {
        Span<Range> ranges = stackalloc Range[PathNormalizer.MaxSegments + 1];
        var count = 0;
        var start = 1;
        for (var i = 1; i <= normalizedPath.Length; i++)
        {
            if (i == normalizedPath.Length || normalizedPath[i] == '/')
            {
                if (i > start)
                {
                    if (count == ranges.Length)
                    {
                        return false;
                    }

                    ranges[count++] = new Range(start, i);
                }

                start = i + 1;
            }
        }

        return Match(normalizedPath, ranges[..count]);
    }

    public override string ToString() => Text;

    /// <summary>
    /// Glob matching over segments: every element but <c>**</c> consumes exactly one segment, so on a mismatch it is
    /// enough to backtrack to the most recent <c>**</c> and let it take one more segment. O(pattern x path), no
    /// recursion: the path is the client's, and nested <c>**</c> must not let it make matching exponential.
    /// </summary>
    private bool Match(ReadOnlySpan<char> path, ReadOnlySpan<Range> ranges)
    {
        var p = 0;
        var s = 0;
        var starP = -1;
        var starS = 0;
        while (s < ranges.Length)
        {
            if (p < _segments.Length && _segments[p].Kind == SegmentKind.DoubleStar)
            {
                starP = p++;
                starS = s;
            }
            else if (p < _segments.Length && _segments[p].Matches(path[ranges[s]]))
            {
                p++;
                s++;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                s = ++starS;
            }
            else
            {
                return false;
            }
        }

        while (p < _segments.Length && _segments[p].Kind == SegmentKind.DoubleStar)
        {
            p++;
        }

        return p == _segments.Length;
    }

    private enum SegmentKind
    {
        Literal,
        Star,
        DoubleStar,
        Glob,
    }

    private readonly record struct Segment(SegmentKind Kind, string A, string B)
    {
        public bool Matches(ReadOnlySpan<char> value) => Kind switch
        {
            SegmentKind.Literal => value.Equals(A, StringComparison.OrdinalIgnoreCase),
            SegmentKind.Star => !value.IsEmpty,
            SegmentKind.Glob => value.Length >= A.Length + B.Length
                && value.StartsWith(A, StringComparison.OrdinalIgnoreCase)
                && value.EndsWith(B, StringComparison.OrdinalIgnoreCase),
            _ => false,
        };
    }
}
