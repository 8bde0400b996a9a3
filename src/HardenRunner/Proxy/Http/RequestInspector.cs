using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Policy;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;

namespace HardenRunner.Proxy.Http;

/// <summary>The parts of an HTTP request the proxy decides on, as Kestrel parsed them.</summary>
internal readonly record struct RequestFacts(
    bool IsTls,
    string? ServerName,
    IPEndPoint Destination,
    string Method,
    string? HostHeader,
    string RawTarget,
    bool IsExtendedConnect,
    bool HasContentLength,
    bool HasTransferEncoding);

/// <summary>
/// Decides one request (pure): the Host (or :authority) must name the SNI of the connection (else domain fronting);
/// the method and the path as sent are checked by the policy for the host and the original destination port. The
/// upstream URI names the SNI (TLS) or the Host (plain HTTP) and the original port; for a host with path rules the
/// path sent upstream is the normalised path the rules were checked against, so the upstream cannot interpret
/// it differently; otherwise the path is sent exactly as the client wrote it.
/// </summary>
internal static class RequestInspector
{
    public const string RuleBothLengths = "malformed request: both Content-Length and Transfer-Encoding";
    public const string RuleConnect = "CONNECT tunnels are not forwarded";
    public const string RuleTarget = "request target form is not forwarded";
    public const string RuleBadHostHeader = "invalid Host header";

    public static RequestPlan Inspect(in RequestFacts r, PolicyEngine policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var preferred = r.Destination.Address;
        var port = r.Destination.Port;
        if (r.HasContentLength && r.HasTransferEncoding)
        {
            return Reject(400, RuleBothLengths, r, r.ServerName);
        }

        var connect = string.Equals(r.Method, "CONNECT", StringComparison.OrdinalIgnoreCase);
        if (connect && !r.IsExtendedConnect)
        {
            return Reject(405, RuleConnect, r, r.ServerName);
        }

        if (!TrySplitTarget(r.RawTarget, out var path, out var query))
        {
            return Reject(400, RuleTarget, r, r.ServerName);
        }

        // the host the request addresses
        string host;
        if (string.IsNullOrEmpty(r.HostHeader))
        {
            host = r.ServerName ?? r.Destination.Address.ToString(); // HTTP/1.0 without Host
        }
        else if (ParseHost(r.HostHeader) is { } parsed)
        {
            host = parsed;
        }
        else
        {
            return Reject(400, RuleBadHostHeader, r, r.ServerName);
        }

        // extended CONNECT (WebSocket over HTTP/2) is a GET as far as rules go
        var method = connect ? "GET" : r.Method;
        var target = query is null ? path : path + "?" + query;
        string upstreamHost;
        Verdict verdict;
        string? fronted = null;
        if (r.IsTls && r.ServerName is { } sni)
        {
            upstreamHost = sni; // the name the client's TLS was for, and that the upstream certificate must match
            if (!string.Equals(host, sni, StringComparison.Ordinal))
            {
                fronted = host;
                verdict = Verdict.Deny($"domain fronting: Host '{host}' does not match SNI '{sni}'");
            }
            else
            {
                verdict = policy.DecideHttp(sni, port, method, path);
            }
        }
        else
        {
            upstreamHost = host;
            verdict = policy.DecideHttp(host, port, method, path);
        }

        var upstreamPath = path;
        if (policy.HasRules(upstreamHost) && PathNormalizer.Normalize(path) is { } normalized)
        {
            upstreamPath = normalized;
        }

        var uri = BuildUri(r.IsTls ? "https" : "http", upstreamHost, port, query is null ? upstreamPath : upstreamPath + "?" + query);
        return new RequestPlan(verdict, upstreamHost, method, target, uri, preferred, FrontedHost: fronted);
    }

    /// <summary>The host of a Host header, lower-case, without port and brackets; null when it is not a valid name or address.</summary>
    internal static string? ParseHost(string value)
    {
        var v = value.AsSpan().Trim();
        ReadOnlySpan<char> name;
        if (v.StartsWith('['))
        {
            var close = v.IndexOf(']');
            if (close < 0 || !IsPortSuffix(v[(close + 1)..]))
            {
                return null;
            }

            name = v[1..close];
            return IPAddress.TryParse(name, out var a6) && a6.AddressFamily == AddressFamily.InterNetworkV6 ? a6.ToString() : null;
        }

        var colon = v.LastIndexOf(':');
        if (colon >= 0)
        {
            if (!IsPortSuffix(v[colon..]))
            {
                return null;
            }

            v = v[..colon];
        }

        if (AddressLiteral.TryParse(v, out var address))
        {
            return address.ToString();
        }

        return HostName.Normalize(v.ToString());
    }

    /// <summary>Origin-form as is; absolute-form reduced to its path and query; anything else refused.</summary>
    internal static bool TrySplitTarget(string raw, out string path, out string? query)
    {
        path = "/";
        query = null;
        var t = raw;
        if (!t.StartsWith('/'))
        {
            var scheme = t.IndexOf("://", StringComparison.Ordinal);
            if (scheme <= 0)
            {
                return false; // asterisk-form, authority-form
            }

            var slash = t.IndexOfAny(['/', '?'], scheme + 3);
            t = slash < 0 ? "/" : t[slash..];
            if (t.StartsWith('?'))
            {
                t = "/" + t;
            }
        }

        var hash = t.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            t = t[..hash];
        }

        var q = t.IndexOf('?', StringComparison.Ordinal);
        path = q < 0 ? t : t[..q];
        query = q < 0 ? null : t[(q + 1)..];
        return true;
    }

    private static bool IsPortSuffix(ReadOnlySpan<char> s) =>
        s.IsEmpty || (s.Length is >= 2 and <= 6 && s[0] == ':' && int.TryParse(s[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= 65535);

    private static Uri BuildUri(string scheme, string host, int port, string pathAndQuery)
    {
        var authority = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
        var text = string.Create(CultureInfo.InvariantCulture, $"{scheme}://{authority}:{port}{pathAndQuery}");

        // the path goes upstream exactly as decided: no unescaping, no dot-segment removal by System.Uri
        return new Uri(text, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
    }

    private static RequestPlan Reject(int status, string rule, in RequestFacts r, string? host) =>
        new(Verdict.Deny(rule), host ?? (ParseHost(r.HostHeader ?? "") is { } h ? h : null), r.Method, SafeTarget(r.RawTarget), null, null, status);

    private static string SafeTarget(string raw) => TrySplitTarget(raw, out var p, out var q) ? (q is null ? p : p + "?" + q) : raw;
}
