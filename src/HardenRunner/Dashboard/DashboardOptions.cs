using System.Globalization;
using System.Net;

namespace HardenRunner.Dashboard;

/// <summary>Where the dashboard listens: <c>http://ADDRESS:PORT</c> URLs (IP literals or <c>localhost</c>).</summary>
public sealed record DashboardOptions
{
    public const string DefaultUrl = "http://127.0.0.1:7787";

    public IReadOnlyList<string> Urls { get; init; } = [DefaultUrl];

    /// <summary>Most runs listed on the runs page and by <c>/api/runs</c> when no limit is asked.</summary>
    public int DefaultRunLimit { get; init; } = 200;

    /// <summary>
    /// Per-repository access (<c>--access FILE</c>); null: single-user, everyone who reaches the dashboard sees every
    /// run. When set, <see cref="AuthHeader"/> must be set too: it names the user of each request.
    /// </summary>
    public DashboardAccess? Access { get; init; }

    /// <summary>
    /// The request header a trusted reverse proxy sets to the authenticated user name (<c>--auth-header</c>, e.g.
    /// <c>X-Forwarded-User</c>). Honoured only when configured, and only together with <see cref="Access"/>.
    /// </summary>
    public string? AuthHeader { get; init; }

    /// <summary>Null when <see cref="Access"/> and <see cref="AuthHeader"/> are consistent, else the reason.</summary>
    public string? AccessError() => (Access, AuthHeader) switch
    {
        (null, null) => null,
        (not null, null) => "--access needs --auth-header: the header your reverse proxy sets to the authenticated user",
        (null, not null) => "--auth-header needs --access: the file that says which repositories each user may see",
        (_, var h) when h.Length == 0 || h.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_')) => $"--auth-header: '{h}' is not a header name",
        _ => null,
    };

    /// <summary>
    /// Parses <c>--urls</c> ("URL;URL" or "URL,URL"): each must be <c>http://</c> with an IP literal or <c>localhost</c>
    /// host and a port. Returns the endpoints, or an error message naming the bad URL.
    /// </summary>
    public static (IReadOnlyList<IPEndPoint> Endpoints, string? Error) ParseUrls(IEnumerable<string> urls)
    {
        ArgumentNullException.ThrowIfNull(urls);
        var result = new List<IPEndPoint>();
        foreach (var raw in urls.SelectMany(u => u.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp || uri.AbsolutePath != "/")
            {
                return ([], $"--urls: '{raw}' is not an http://ADDRESS:PORT URL");
            }

            var host = uri.Host.Trim('[', ']');
            if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase))
            {
                result.Add(new IPEndPoint(IPAddress.Loopback, uri.Port));
            }
            else if (IPAddress.TryParse(host, out var ip))
            {
                result.Add(new IPEndPoint(ip, uri.Port));
            }
            else
            {
                return ([], $"--urls: '{raw}': the host must be an IP address or localhost (a name could resolve anywhere)");
            }
        }

        return result.Count == 0 ? ([], "--urls: no URL given") : (result, null);
    }

    /// <summary>A URL for an endpoint (IPv6 in brackets).</summary>
    public static string UrlOf(IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var host = endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString();
        return $"http://{host}:{endpoint.Port.ToString(CultureInfo.InvariantCulture)}";
    }
}
