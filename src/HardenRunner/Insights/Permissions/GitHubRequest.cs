namespace HardenRunner.Insights.Permissions;

/// <summary>
/// One HTTP request to a GitHub host, normalised for matching against the permission data: lower-case host, HEAD as
/// GET, path percent-decoded and split into segments (empty ones dropped), query parsed, <c>/repositories/{id}/…</c>
/// rewritten to <c>/repos/…</c>, and a trailing <c>.git</c> stripped from the repository segment of github.com git URLs.
/// </summary>
public sealed class GitHubRequest
{
    private GitHubRequest(string method, string host, string path, IReadOnlyList<string> segments, IReadOnlyDictionary<string, string> query, bool repositoryById)
    {
        Method = method;
        Host = host;
        Path = path;
        Segments = segments;
        Query = query;
        RepositoryById = repositoryById;
    }

    /// <summary>Upper case; HEAD becomes GET.</summary>
    public string Method { get; }

    public string Host { get; }

    /// <summary>The path as recorded, without the query (for evidence).</summary>
    public string Path { get; }

    public IReadOnlyList<string> Segments { get; }

    public IReadOnlyDictionary<string, string> Query { get; }

    /// <summary>Top-level JSON body fields, when the body was inspected (e.g. Git LFS <c>operation</c>).</summary>
    public IReadOnlyDictionary<string, string> BodyFields { get; init; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The path named the repository by id (<c>/repositories/{id}</c>): its owner and name are unknown.</summary>
    public bool RepositoryById { get; }

    /// <summary>The owner/repo the path addresses (REST <c>/repos/o/r/…</c> or a github.com git URL), or null.</summary>
    public string? Repository =>
        !RepositoryById && Segments.Count >= 3 && Segments[0] == "repos" && Host != "github.com"
            ? $"{Segments[1]}/{Segments[2]}"
            : Host == "github.com" && Segments.Count >= 2 ? $"{Segments[0]}/{Segments[1]}" : null;

    public static GitHubRequest Create(string method, string host, string target)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(host);
        target ??= "/";
        var m = method.ToUpperInvariant();
        if (m == "HEAD")
        {
            m = "GET";
        }

        var h = host.TrimEnd('.').ToLowerInvariant();
        var q = target.IndexOf('?', StringComparison.Ordinal);
        var rawPath = q < 0 ? target : target[..q];
        var segments = rawPath.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Decode).Where(s => s.Length > 0).ToList();
        var byId = false;
        if (segments.Count >= 2 && segments[0] == "repositories" && segments[1].All(char.IsAsciiDigit))
        {
            // /repositories/{id}/… serves /repos/{owner}/{repo}/…; owner and name are unknown here
            segments = ["repos", "#" + segments[1], "#" + segments[1], .. segments.Skip(2)];
            byId = true;
        }

        if (h == "github.com" && segments.Count >= 2 && segments[1].EndsWith(".git", StringComparison.OrdinalIgnoreCase) && segments[1].Length > 4)
        {
            segments[1] = segments[1][..^4];
        }

        var query = new Dictionary<string, string>(StringComparer.Ordinal);
        if (q >= 0)
        {
            foreach (var pair in target[(q + 1)..].Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = pair.IndexOf('=', StringComparison.Ordinal);
                var name = Decode(eq < 0 ? pair : pair[..eq]);
                query.TryAdd(name, eq < 0 ? "" : Decode(pair[(eq + 1)..].Replace('+', ' ')));
            }
        }

        return new GitHubRequest(m, h, rawPath, segments, query, byId);
    }

    public override string ToString() => $"{Method} {Host}{Path}";

    private static string Decode(string s)
    {
        try
        {
            return Uri.UnescapeDataString(s);
        }
        catch (UriFormatException)
        {
            return s;
        }
    }
}
