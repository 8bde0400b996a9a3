using System.Globalization;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy;

/// <summary>
/// A question for the engine, parsed from a URL: <c>https://host[:port]/path</c>, <c>http://…</c>, or
/// <c>tcp://host:port</c> / <c>udp://host:port</c>. The path is kept exactly as written (no normalisation by
/// <see cref="Uri"/>), so explaining a traversal trick shows what the proxy would decide.
/// </summary>
public sealed record RequestTarget(string Scheme, string Host, int Port, string Path)
{
    public static bool TryParse(string url, out RequestTarget? target, out string? error)
    {
        target = null;
        error = null;
        var sep = url.IndexOf("://", StringComparison.Ordinal);
        if (sep <= 0)
        {
            error = $"'{url}' is not a URL (expected https://host/path, http://…, tcp://host:port or udp://host:port)";
            return false;
        }

        var scheme = url[..sep].ToLowerInvariant();
        if (scheme is not ("https" or "http" or "tcp" or "udp"))
        {
            error = $"scheme '{scheme}' is not supported (https, http, tcp, udp)";
            return false;
        }

        var rest = url[(sep + 3)..];
        var end = rest.IndexOfAny(['/', '?', '#']);
        var authority = end < 0 ? rest : rest[..end];
        var path = end < 0 ? "/" : rest[end..];
        if (path[0] != '/')
        {
            path = "/" + path;
        }

        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            authority = authority[(at + 1)..];
        }

        string host;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{url}': missing ']'";
                return false;
            }

            host = authority[1..close];
            if (close + 1 < authority.Length)
            {
                if (authority[close + 1] != ':')
                {
                    error = $"'{url}': expected ':port' after ']'";
                    return false;
                }

                portText = authority[(close + 2)..];
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon >= 0 ? authority[..colon] : authority;
            portText = colon >= 0 ? authority[(colon + 1)..] : null;
        }

        if (host.Length == 0)
        {
            error = $"'{url}' has no host";
            return false;
        }

        int port;
        if (portText is null)
        {
            if (scheme is "tcp" or "udp")
            {
                error = $"'{url}': {scheme}:// needs a port";
                return false;
            }

            port = scheme == "https" ? 443 : 80;
        }
        else if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"'{url}': port '{portText}' must be a number from 1 to 65535";
            return false;
        }

        target = new RequestTarget(scheme, host, port, path);
        return true;
    }

    /// <summary>Asks the engine: an HTTP decision for http(s), a layer-4 decision for tcp/udp.</summary>
    public Verdict Decide(PolicyEngine engine, string method)
    {
        ArgumentNullException.ThrowIfNull(engine);
        return Scheme switch
        {
            "tcp" => engine.DecideConnection(Host, Port, Transport.Tcp),
            "udp" => engine.DecideConnection(Host, Port, Transport.Udp),
            _ => engine.DecideHttp(Host, Port, method, Path),
        };
    }
}
