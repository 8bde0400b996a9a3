using System.Globalization;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Loading;

/// <summary>
/// Parses the entries of <c>allowed-endpoints</c> (<c>host[:port][/udp]</c>, as step-security/harden-runner writes
/// them, port 443 by default) and <c>allowed-cidrs</c> (<c>net/len[:port][/udp]</c>, IPv6 in brackets when a port follows).
/// </summary>
public static class EndpointParser
{
    public const int DefaultPort = 443;

    public static bool TryParseEndpoint(string text, SourceLocation source, out EndpointSpec? endpoint, out string? error)
    {
        endpoint = null;
        error = null;
        var s = text.Trim();
        if (s.Contains("://", StringComparison.Ordinal))
        {
            error = $"'{s}' is a URL; write the endpoint as host[:port], e.g. 'github.com:443'";
            return false;
        }

        s = StripTransport(s, out var transport);
        string hostPart;
        var port = DefaultPort;
        if (s.StartsWith('['))
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{text}': missing ']' after an IPv6 address";
                return false;
            }

            hostPart = s[..(close + 1)];
            var rest = s[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':' || !TryParsePort(rest[1..], out port, out error))
                {
                    error ??= $"'{text}': expected ':port' after ']'";
                    return false;
                }
            }
        }
        else if (s.Count(c => c == ':') > 1)
        {
            // a bare IPv6 literal, no port
            hostPart = s;
        }
        else
        {
            var colon = s.LastIndexOf(':');
            hostPart = colon >= 0 ? s[..colon] : s;
            if (colon >= 0 && !TryParsePort(s[(colon + 1)..], out port, out error))
            {
                error = $"'{text}': {error}";
                return false;
            }
        }

        if (hostPart.IndexOfAny(['/', '?', '#', '@', ' ']) >= 0)
        {
            error = $"'{text}': an endpoint is host[:port]; paths belong in 'rules'";
            return false;
        }

        if (!HostPattern.TryParse(hostPart, out var pattern, out error))
        {
            return false;
        }

        endpoint = new EndpointSpec(pattern!, port, transport, source);
        error = null;
        return true;
    }

    public static bool TryParseCidr(string text, SourceLocation source, out CidrSpec? cidr, out string? error)
    {
        cidr = null;
        error = null;
        var s = StripTransport(text.Trim(), out var transport);
        string net;
        int? port = null;
        if (s.StartsWith('['))
        {
            var close = s.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{text}': missing ']'";
                return false;
            }

            net = s[1..close];
            var rest = s[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':' || !TryParsePort(rest[1..], out var p, out error))
                {
                    error ??= $"'{text}': expected ':port' after ']'";
                    return false;
                }

                port = p;
            }
        }
        else
        {
            // IPv4 has no ':' of its own, so exactly one ':' separates a port; an unbracketed IPv6 network has no port
            var colons = s.Count(c => c == ':');
            var slash = s.IndexOf('/', StringComparison.Ordinal);
            if (colons == 1)
            {
                var colon = s.IndexOf(':', StringComparison.Ordinal);
                if (!TryParsePort(s[(colon + 1)..], out var p, out error))
                {
                    error = $"'{text}': {error}";
                    return false;
                }

                port = p;
                net = s[..colon];
            }
            else if (colons > 1 && slash >= 0 && s.IndexOf(':', slash) >= 0)
            {
                error = $"'{text}': an IPv6 network followed by a port must be in brackets, e.g. '[{s[..s.LastIndexOf(':')]}]{s[s.LastIndexOf(':')..]}'";
                return false;
            }
            else
            {
                net = s;
            }
        }

        var addressPart = net.Contains('/', StringComparison.Ordinal) ? net[..net.IndexOf('/', StringComparison.Ordinal)] : net;
        if (!addressPart.Contains(':', StringComparison.Ordinal) && addressPart.Count(c => c == '.') != 3)
        {
            // IPAddress.TryParse reads '10.1' as 10.0.0.1; a policy means only the dotted quad
            error = $"'{text}' is not a CIDR: write the IPv4 address as a dotted quad (e.g. 10.20.0.0/16)";
            return false;
        }

        if (!net.Contains('/', StringComparison.Ordinal))
        {
            // a single address is a /32 or /128
            if (!IPAddress.TryParse(net, out var single))
            {
                error = $"'{text}' is not a CIDR (expected e.g. 10.20.0.0/16 or [2001:db8::/32]:443)";
                return false;
            }

            net += single.AddressFamily == AddressFamily.InterNetworkV6 ? "/128" : "/32";
        }

        if (!IPNetwork.TryParse(net, out var network) || !HasNoHostBits(net, network))
        {
            if (TryHostBits(net, out var suggestion))
            {
                error = $"'{text}' has host bits set; did you mean {suggestion}?";
            }
            else
            {
                error = $"'{text}' is not a CIDR (expected e.g. 10.20.0.0/16 or [2001:db8::/32]:443)";
            }

            return false;
        }

        cidr = new CidrSpec(network, port, transport, source);
        error = null;
        return true;
    }

    /// <summary>
    /// .NET accepts '10.0.0.1/8' and silently masks it to 10.0.0.0/8; a user who wrote host bits may have meant a
    /// single address, so the policy asks instead of guessing.
    /// </summary>
    private static bool HasNoHostBits(string net, IPNetwork network)
    {
        var slash = net.IndexOf('/', StringComparison.Ordinal);
        return IPAddress.TryParse(net[..slash], out var written) && written.Equals(network.BaseAddress);
    }

    private static bool TryHostBits(string net, out string suggestion)
    {
        suggestion = "";
        var slash = net.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0
            || !IPAddress.TryParse(net[..slash], out var addr)
            || !int.TryParse(net[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var len))
        {
            return false;
        }

        var bytes = addr.GetAddressBytes();
        if (len < 0 || len > bytes.Length * 8)
        {
            return false;
        }

        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(len - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xff << (8 - keep));
        }

        suggestion = $"{new IPAddress(bytes)}/{len}";
        return true;
    }

    private static string StripTransport(string s, out Transport transport)
    {
        transport = Transport.Tcp;
        if (s.EndsWith("/udp", StringComparison.OrdinalIgnoreCase))
        {
            transport = Transport.Udp;
            return s[..^4];
        }

        if (s.EndsWith("/tcp", StringComparison.OrdinalIgnoreCase))
        {
            return s[..^4];
        }

        return s;
    }

    private static bool TryParsePort(string s, out int port, out string? error)
    {
        error = null;
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            error = $"port '{s}' must be a number from 1 to 65535";
            return false;
        }

        return true;
    }
}
