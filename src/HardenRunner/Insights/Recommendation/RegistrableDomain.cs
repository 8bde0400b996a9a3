namespace HardenRunner.Insights.Recommendation;

/// <summary>
/// A small, conservative approximation of "registrable domain" (no public-suffix list is shipped): the last two labels,
/// or the last three when the second-level label is a common generic one under a two-letter country code
/// (<c>co.uk</c>, <c>com.au</c>, <c>ac.jp</c>, …), or under a few shared-hosting suffixes. The recommender only uses it
/// to refuse a wildcard at or above a public suffix; when unsure it refuses. Pure.
/// </summary>
public static class RegistrableDomain
{
    private static readonly HashSet<string> GenericSecondLevel = new(StringComparer.Ordinal)
    {
        "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "gob", "mil", "nic", "ltd", "plc", "sch",
    };

    /// <summary>Suffixes under which every name belongs to a different party (a wildcard here would span tenants).</summary>
    private static readonly HashSet<string> SharedSuffixes = new(StringComparer.Ordinal)
    {
        "github.io", "githubusercontent.com", "blob.core.windows.net", "s3.amazonaws.com", "cloudfront.net",
        "herokuapp.com", "azurewebsites.net", "appspot.com", "pages.dev", "workers.dev", "vercel.app", "netlify.app",
        "fly.dev", "onrender.com", "web.app", "firebaseapp.com", "ngrok.io", "ngrok-free.app", "trycloudflare.com",
    };

    /// <summary>The registrable domain of <paramref name="host"/> (lower case), or null for a bare suffix.</summary>
    public static string? Of(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var labels = host.TrimEnd('.').ToLowerInvariant().Split('.');
        if (labels.Length < 2 || labels.Any(l => l.Length == 0))
        {
            return null;
        }

        foreach (var shared in SharedSuffixes)
        {
            var n = shared.Count(c => c == '.') + 1;
            if (labels.Length > n && string.Join('.', labels[^n..]) == shared)
            {
                return string.Join('.', labels[^(n + 1)..]);
            }

            if (labels.Length == n && string.Join('.', labels) == shared)
            {
                return null;
            }
        }

        var take = labels[^1].Length == 2 && GenericSecondLevel.Contains(labels[^2]) ? 3 : 2;
        return labels.Length < take ? null : string.Join('.', labels[^take..]);
    }

    /// <summary>Whether <paramref name="domain"/> is a registrable domain or a name below one (so <c>*.domain</c> stays inside one party).</summary>
    public static bool IsAtOrBelowRegistrable(string domain) =>
        Of(domain) is { } registrable && (domain.Length == registrable.Length || domain.EndsWith("." + registrable, StringComparison.Ordinal));
}
