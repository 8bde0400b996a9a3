namespace HardenRunner.Policy.Matching;

/// <summary>
/// Normalises the path of an HTTP request target before it is matched against rules, so that spelling tricks
/// (<c>%2e%2e</c>, <c>//</c>, <c>/./</c>) cannot slip past a rule. The path is refused (and the request denied)
/// when it cannot be normalised safely: an encoded '/' or '\', a raw '\', a double encoding (<c>%25</c> followed by
/// two hex digits), a control or non-ASCII character, a malformed escape, a <c>..</c> that climbs above the root,
/// or a dot segment carrying parameters (<c>..;</c>).
/// </summary>
public static class PathNormalizer
{
    /// <summary>Paths longer than this are refused: upstream servers commonly cap the request line at 8 KiB too.</summary>
    public const int MaxLength = 8192;

    /// <summary>More segments than this are refused.</summary>
    public const int MaxSegments = 256;

    /// <summary>
    /// Writes the normalised path of <paramref name="path"/> (query and fragment removed) into <paramref name="destination"/>,
    /// which must be at least <paramref name="path"/>'s length (and at least 1). Allocation-free.
    /// </summary>
    /// <returns>The length written, or -1 when the path cannot be normalised.</returns>
    public static int Normalize(ReadOnlySpan<char> path, Span<char> destination)
    {
        var cut = path.IndexOfAny('?', '#');
        if (cut >= 0)
        {
            path = path[..cut];
        }

        if (path.IsEmpty || path[0] != '/' || path.Length > MaxLength || destination.Length < Math.Max(1, path.Length))
        {
            return -1;
        }

        Span<int> starts = stackalloc int[MaxSegments + 1];
        var depth = 0;
        var w = 0;
        var i = 1;
        var endsWithSlash = false;
        while (true)
        {
            // one segment: path[i .. next '/']
            destination[w] = '/';
            var segStart = w + 1;
            var o = segStart;
            var hasSemicolon = -1;
            while (i < path.Length && path[i] != '/')
            {
                var c = path[i];
                if (c == '%')
                {
                    if (i + 2 >= path.Length || !TryHex(path[i + 1], out var hi) || !TryHex(path[i + 2], out var lo))
                    {
                        return -1;
                    }

                    var v = (char)((hi << 4) | lo);
                    if (IsUnreserved(v))
                    {
                        destination[o++] = v;
                    }
                    else if (v is '/' or '\\' or < (char)0x20 or (char)0x7f)
                    {
                        return -1;
                    }
                    else if (v == '%' && i + 4 < path.Length && TryHex(path[i + 3], out _) && TryHex(path[i + 4], out _))
                    {
                        return -1; // double encoding, e.g. %252e
                    }
                    else
                    {
                        destination[o++] = '%';
                        destination[o++] = ToHexUpper(hi);
                        destination[o++] = ToHexUpper(lo);
                    }

                    i += 3;
                    continue;
                }

                if (c is <= ' ' or >= (char)0x7f or '\\')
                {
                    return -1;
                }

                if (c == ';' && hasSemicolon < 0)
                {
                    hasSemicolon = o - segStart;
                }

                destination[o++] = c;
                i++;
            }

            var seg = destination[segStart..o];
            var bare = hasSemicolon >= 0 ? seg[..hasSemicolon] : seg;
            if (hasSemicolon >= 0 && bare is "." or "..")
            {
                return -1;
            }

            if (seg.IsEmpty || seg is ".")
            {
                // '//' folds; '/./' disappears
                endsWithSlash = true;
            }
            else if (seg is "..")
            {
                if (depth == 0)
                {
                    return -1;
                }

                depth--;
                w = starts[depth];
                endsWithSlash = true;
            }
            else
            {
                if (depth == MaxSegments)
                {
                    return -1;
                }

                starts[depth++] = w;
                w = o;
                endsWithSlash = false;
            }

            if (i >= path.Length)
            {
                break;
            }

            i++; // the '/'
            if (i >= path.Length)
            {
                endsWithSlash = true;
                break;
            }
        }

        if (w == 0 || endsWithSlash)
        {
            destination[w++] = '/';
        }

        return w;
    }

    /// <summary>Convenience for callers off the hot path (events, explain): the normalised path, or null when it cannot be normalised.</summary>
    public static string? Normalize(string path)
    {
        var buffer = path.Length <= 1024 ? stackalloc char[Math.Max(1, path.Length)] : new char[path.Length];
        var n = Normalize(path, buffer);
        return n < 0 ? null : buffer[..n].ToString();
    }

    private static bool IsUnreserved(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '.' or '_' or '~';

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'a' and <= 'f' => c - 'a' + 10,
            >= 'A' and <= 'F' => c - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }

    private static char ToHexUpper(int v) => (char)(v < 10 ? '0' + v : 'A' + v - 10);
}
