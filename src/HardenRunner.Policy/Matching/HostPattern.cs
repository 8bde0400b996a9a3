using System.Net;

namespace HardenRunner.Policy.Matching;

/// <summary>How a host pattern matches.</summary>
public enum HostPatternKind
{
    /// <summary><c>github.com</c>: exactly that name.</summary>
    Exact,

    /// <summary><c>*.github.com</c>: one or more labels in front of the suffix, never the apex.</summary>
    Subdomains,

    /// <summary><c>productionresultssa*.blob.core.windows.net</c>: one label matching the glob, then exactly the rest.</summary>
    LabelGlob,

    /// <summary><c>192.0.2.10</c> or <c>[2001:db8::1]</c>: an address literal.</summary>
    Address,
}

/// <summary>A compiled host pattern from <c>allowed-endpoints</c>, <c>rules[].host</c> or <c>tls.passthrough</c>.</summary>
public sealed class HostPattern : IEquatable<HostPattern>
{
    private HostPattern(HostPatternKind kind, string text, string name, string globPrefix, string globSuffix, IPAddress? address)
    {
        Kind = kind;
        Text = text;
        Name = name;
        GlobPrefix = globPrefix;
        GlobSuffix = globSuffix;
        Address = address;
    }

    public HostPatternKind Kind { get; }

    /// <summary>The normalised pattern as a user would write it (<c>*.github.com</c>).</summary>
    public string Text { get; }

    /// <summary>Exact: the name. Subdomains: the suffix after <c>*.</c>. LabelGlob: the labels after the first.</summary>
    public string Name { get; }

    public string GlobPrefix { get; }

    public string GlobSuffix { get; }

    public IPAddress? Address { get; }

    /// <summary>Parses and normalises a host pattern; on failure <paramref name="error"/> says why in words a user can act on.</summary>
    public static bool TryParse(string text, out HostPattern? pattern, out string? error)
    {
        pattern = null;
        error = null;
        var s = text.Trim();
        if (s.Length == 0)
        {
            error = "empty host";
            return false;
        }

        var unbracketed = s.Length > 2 && s[0] == '[' && s[^1] == ']' ? s[1..^1] : s;
        if (IPAddress.TryParse(unbracketed, out var address) && (unbracketed.Contains(':') || LooksLikeDottedQuad(unbracketed)))
        {
            if (address.IsIPv4MappedToIPv6)
            {
                address = address.MapToIPv4();
            }

            if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                // a zone (fe80::1%eth0) names an interface of this machine, not a destination; IPv4 has no scope at all
                address.ScopeId = 0;
            }

            var addressText = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
            pattern = new HostPattern(HostPatternKind.Address, addressText, address.ToString(), "", "", address);
            return true;
        }

        var starCount = s.Count(c => c == '*');
        if (starCount == 0)
        {
            var name = HostName.Normalize(s);
            if (name is null)
            {
                error = $"'{s}' is not a valid host name";
                return false;
            }

            pattern = new HostPattern(HostPatternKind.Exact, name, name, "", "", null);
            return true;
        }

        if (s == "*" || s == "*.")
        {
            error = "a bare '*' would allow every host; list the hosts, or use audit mode to find them";
            return false;
        }

        if (starCount > 1)
        {
            error = $"'{s}' has more than one '*'; a wildcard may appear once, in the leftmost label";
            return false;
        }

        var firstDot = s.IndexOf('.', StringComparison.Ordinal);
        var star = s.IndexOf('*', StringComparison.Ordinal);
        if (firstDot < 0 || star > firstDot)
        {
            error = $"'{s}': '*' may only stand in the leftmost label (as in '*.example.com' or 'prefix*.example.com')";
            return false;
        }

        var rest = HostName.Normalize(s[(firstDot + 1)..]);
        if (rest is null)
        {
            error = $"'{s}': '{s[(firstDot + 1)..]}' is not a valid host name";
            return false;
        }

        if (!rest.Contains('.', StringComparison.Ordinal))
        {
            error = $"'{s}' is too broad: a wildcard needs at least two labels after it (e.g. '*.example.com', not '*.com')";
            return false;
        }

        var firstLabel = s[..firstDot];
        if (firstLabel == "*")
        {
            pattern = new HostPattern(HostPatternKind.Subdomains, "*." + rest, rest, "", "", null);
            return true;
        }

        var prefix = firstLabel[..star].ToLowerInvariant();
        var suffix = firstLabel[(star + 1)..].ToLowerInvariant();
        if (!IsLabelFragment(prefix) || !IsLabelFragment(suffix))
        {
            error = $"'{s}': the leftmost label '{firstLabel}' has characters a host name cannot have";
            return false;
        }

        pattern = new HostPattern(HostPatternKind.LabelGlob, $"{prefix}*{suffix}.{rest}", rest, prefix, suffix, null);
        return true;
    }

    /// <summary>Matches a host that is already lower-case ASCII without a trailing dot (see <see cref="HostName"/>).</summary>
    public bool Matches(ReadOnlySpan<char> host)
    {
        switch (Kind)
        {
            case HostPatternKind.Exact:
                return host.Equals(Name, StringComparison.OrdinalIgnoreCase);
            case HostPatternKind.Subdomains:
                return host.Length > Name.Length + 1
                    && host[^(Name.Length + 1)] == '.'
                    && host.EndsWith(Name, StringComparison.OrdinalIgnoreCase)
                    && host[0] != '.';
            case HostPatternKind.LabelGlob:
                {
                    var dot = host.IndexOf('.');
                    if (dot <= 0 || !host[(dot + 1)..].Equals(Name, StringComparison.OrdinalIgnoreCase))
                    {
                        return false;
                    }

                    var label = host[..dot];
                    return label.Length >= GlobPrefix.Length + GlobSuffix.Length
                        && label.StartsWith(GlobPrefix, StringComparison.OrdinalIgnoreCase)
                        && label.EndsWith(GlobSuffix, StringComparison.OrdinalIgnoreCase);
                }

            case HostPatternKind.Address:
                return host.Equals(Name, StringComparison.OrdinalIgnoreCase);
            default:
                return false;
        }
    }

    /// <summary>True when every name this pattern matches is also matched by <paramref name="other"/> (used to check that rules and passthrough hosts are allowed).</summary>
    public bool IsCoveredBy(HostPattern other)
    {
        if (Equals(other))
        {
            return true;
        }

        return Kind switch
        {
            HostPatternKind.Exact => other.Matches(Name),
            HostPatternKind.Address => other.Kind == HostPatternKind.Address && other.Address!.Equals(Address),
            HostPatternKind.Subdomains => other.Kind == HostPatternKind.Subdomains && (Name == other.Name || Name.EndsWith("." + other.Name, StringComparison.Ordinal)),
            HostPatternKind.LabelGlob => other.Kind == HostPatternKind.Subdomains && (Name == other.Name || Name.EndsWith("." + other.Name, StringComparison.Ordinal)),
            _ => false,
        };
    }

    public bool Equals(HostPattern? other) => other is not null && other.Kind == Kind && other.Text == Text;

    public override bool Equals(object? obj) => Equals(obj as HostPattern);

    public override int GetHashCode() => HashCode.Combine(Kind, Text);

    public override string ToString() => Text;

    private static bool LooksLikeDottedQuad(string s)
    {
        // IPAddress.TryParse accepts "1" or "1.2" as IPv4; a policy means only the dotted quad.
        var dots = 0;
        foreach (var c in s)
        {
            if (c == '.')
            {
                dots++;
            }
            else if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return dots == 3;
    }

    private static bool IsLabelFragment(string s)
    {
        foreach (var c in s)
        {
            if (!(c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}
