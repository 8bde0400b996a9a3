namespace HardenRunner.Insights.Permissions;

/// <summary>
/// A path template of the permission data: literal segments (case-sensitive), <c>{name}</c> (exactly one non-empty
/// segment) and <c>{name+}</c> (one or more segments, GitHub's x-multi-segment parameters). Pure.
/// </summary>
public sealed class PathTemplate
{
    private readonly Segment[] _segments;

    private PathTemplate(string text, Segment[] segments)
    {
        Text = text;
        _segments = segments;
        LiteralCount = segments.Count(s => s.Kind == SegmentKind.Literal);
    }

    private enum SegmentKind
    {
        Literal,
        One,
        Many,
    }

    public string Text { get; }

    /// <summary>How many literal segments (the first precedence criterion: more is more specific).</summary>
    public int LiteralCount { get; }

    public static PathTemplate Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.StartsWith('/'))
        {
            throw new FormatException($"path template '{text}' does not start with '/'");
        }

        var segments = new List<Segment>();
        foreach (var part in text.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.StartsWith('{') && part.EndsWith('}'))
            {
                var name = part[1..^1];
                var many = name.EndsWith('+');
                name = many ? name[..^1] : name;
                if (name.Length == 0 || name.Contains('{', StringComparison.Ordinal) || name.Contains('}', StringComparison.Ordinal))
                {
                    throw new FormatException($"path template '{text}' has a bad parameter '{part}'");
                }

                segments.Add(new Segment(many ? SegmentKind.Many : SegmentKind.One, name));
            }
            else if (part.Contains('{', StringComparison.Ordinal) || part.Contains('}', StringComparison.Ordinal))
            {
                throw new FormatException($"path template '{text}' mixes a parameter into segment '{part}'");
            }
            else
            {
                segments.Add(new Segment(SegmentKind.Literal, part));
            }
        }

        return new PathTemplate(text, [.. segments]);
    }

    /// <summary>
    /// Matches decoded path segments; on success <paramref name="values"/> holds each parameter (multi-segment ones
    /// joined with '/').
    /// </summary>
    public bool TryMatch(IReadOnlyList<string> path, out IReadOnlyDictionary<string, string> values)
    {
        var captured = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Match(path, 0, 0, captured))
        {
            values = captured;
            return true;
        }

        values = captured;
        return false;
    }

    private bool Match(IReadOnlyList<string> path, int pi, int si, Dictionary<string, string> captured)
    {
        if (si == _segments.Length)
        {
            return pi == path.Count;
        }

        if (pi >= path.Count)
        {
            return false;
        }

        var s = _segments[si];
        switch (s.Kind)
        {
            case SegmentKind.Literal:
                return string.Equals(path[pi], s.Name, StringComparison.Ordinal) && Match(path, pi + 1, si + 1, captured);
            case SegmentKind.One:
                if (path[pi].Length == 0 || !Match(path, pi + 1, si + 1, captured))
                {
                    return false;
                }

                captured[s.Name] = path[pi];
                return true;
            default:
                // longest first: a multi-segment parameter usually ends the template
                for (var end = path.Count; end > pi; end--)
                {
                    if (Match(path, end, si + 1, captured))
                    {
                        captured[s.Name] = string.Join('/', path.Skip(pi).Take(end - pi));
                        return true;
                    }
                }

                return false;
        }
    }

    private readonly record struct Segment(SegmentKind Kind, string Name);
}
