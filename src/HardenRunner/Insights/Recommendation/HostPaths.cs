namespace HardenRunner.Insights.Recommendation;

/// <summary>
/// The requests seen on one GitHub host, reduced to rule patterns: <c>/repos/{owner}/{repo}/**</c> (API) or
/// <c>/{owner}/{repo}/**</c> and <c>/{owner}/{repo}.git/**</c> (git on github.com) per repository, and the exact
/// other paths (folded to <c>/{first}/**</c> when there are too many), each with the methods seen.
/// </summary>
internal sealed class HostPaths
{
    private const int MaxPatterns = 200;

    private readonly SortedDictionary<string, (SortedSet<string> Methods, int Count)> _repo = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, (SortedSet<string> Methods, int Count)> _exact = new(StringComparer.Ordinal);

    /// <summary>False once a request without method or path was seen (a spliced connection): rules would break it.</summary>
    public bool CanScope { get; private set; } = true;

    public int Requests { get; private set; }

    private int _maxExact = 12;

    public void Add(string host, string? method, string? target, int maxExactPaths)
    {
        _maxExact = maxExactPaths;
        if (string.IsNullOrEmpty(method) || string.IsNullOrEmpty(target) || !target.StartsWith('/'))
        {
            CanScope = false;
            return;
        }

        Requests++;
        // an odd method cannot be written as one; it is kept as "any method" on its path
        var m = method.Length <= 20 && method.All(char.IsAsciiLetter) ? method.ToUpperInvariant() : "*";
        var q = target.IndexOfAny(['?', '#']);
        var segments = (q < 0 ? target : target[..q]).Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Safe).ToList();
        string? repoPattern = null;
        if (host != "github.com" && segments.Count >= 3 && segments[0] is "repos")
        {
            repoPattern = $"/repos/{segments[1]}/{segments[2]}/**";
        }
        else if (host != "github.com" && segments.Count >= 2 && segments[0] is "repositories")
        {
            repoPattern = $"/repositories/{segments[1]}/**";
        }
        else if (host == "github.com" && segments.Count >= 2)
        {
            repoPattern = $"/{segments[0]}/{segments[1]}/**";
        }

        if (repoPattern is not null)
        {
            Count(_repo, repoPattern, m);
        }
        else
        {
            Count(_exact, "/" + string.Join('/', segments), m);
        }
    }

    /// <summary>The allow entries: pattern, methods, how many requests.</summary>
    public IEnumerable<(string Pattern, IReadOnlyCollection<string> Methods, int Count)> Patterns()
    {
        foreach (var (pattern, (methods, count)) in _repo)
        {
            yield return (pattern, methods, count);
        }

        if (_exact.Count <= _maxExact)
        {
            foreach (var (pattern, (methods, count)) in _exact)
            {
                yield return (pattern, methods, count);
            }

            yield break;
        }

        var folded = new SortedDictionary<string, (SortedSet<string> Methods, int Count)>(StringComparer.Ordinal);
        foreach (var (pattern, (methods, count)) in _exact)
        {
            var first = pattern.Split('/', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            var key = first is null ? "/" : $"/{first}/**";
            if (!folded.TryGetValue(key, out var acc))
            {
                acc = (new SortedSet<string>(StringComparer.Ordinal), 0);
            }

            acc.Methods.UnionWith(methods);
            folded[key] = (acc.Methods, acc.Count + count);
        }

        foreach (var (pattern, (methods, count)) in folded)
        {
            yield return (pattern, methods, count);
        }
    }

    private static void Count(SortedDictionary<string, (SortedSet<string> Methods, int Count)> map, string pattern, string method)
    {
        if (!map.TryGetValue(pattern, out var acc))
        {
            if (map.Count >= MaxPatterns)
            {
                pattern = "/**";
                if (!map.TryGetValue(pattern, out acc))
                {
                    acc = (new SortedSet<string>(StringComparer.Ordinal), 0);
                }
            }
            else
            {
                acc = (new SortedSet<string>(StringComparer.Ordinal), 0);
            }
        }

        acc.Methods.Add(method);
        map[pattern] = (acc.Methods, acc.Count + 1);
    }

    /// <summary>A segment as a literal rule segment, or <c>*</c> when it holds anything but unreserved characters.</summary>
    private static string Safe(string segment) =>
        segment.Length is > 0 and <= 100 && segment.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~') && segment is not ("." or "..")
            ? segment
            : "*";
}
