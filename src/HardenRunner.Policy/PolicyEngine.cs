using System.Net;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy;

/// <summary>A port (and transport) that the policy grants a name or address.</summary>
public readonly record struct PortGrant(int Port, Transport Transport);

/// <summary>
/// The policy engine: a pure function of a question (a DNS name, a layer-4 flow, an HTTP request) to a
/// <see cref="Verdict"/>. Built once from a <see cref="PolicyDocument"/>; thread-safe; the HTTP and DNS decisions
/// for names allocate nothing.
/// </summary>
public sealed class PolicyEngine
{
    public const string RuleNotAllowed = "not in allowed-endpoints";
    public const string RuleAddressNotAllowed = "address not in allowed-endpoints or allowed-cidrs";
    public const string RuleBadPath = "path cannot be normalised";
    public const string RuleBadMethod = "invalid HTTP method";
    public const string RuleBadHost = "invalid host name";

    private readonly Dictionary<string, HostEntry> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, HostEntry>.AlternateLookup<ReadOnlySpan<char>> _exactLookup;
    private readonly Dictionary<string, HostEntry> _subdomains = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, HostEntry>.AlternateLookup<ReadOnlySpan<char>> _subdomainLookup;
    private readonly List<(HostPattern Pattern, HostEntry Entry)> _globs = [];

    // label globs indexed by the labels after the first, so a lookup checks only the globs that can match
    private readonly Dictionary<string, List<(HostPattern Pattern, HostEntry Entry)>> _globsByRest = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, List<(HostPattern Pattern, HostEntry Entry)>>.AlternateLookup<ReadOnlySpan<char>> _globsByRestLookup;
    private readonly Dictionary<IPAddress, HostEntry> _addresses = [];
    private readonly (CidrSpec Spec, string Rule)[] _cidrs;
    private readonly Dictionary<string, CompiledRules> _rulesExact = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, CompiledRules>.AlternateLookup<ReadOnlySpan<char>> _rulesExactLookup;
    private readonly Dictionary<string, CompiledRules> _rulesSubdomains = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, CompiledRules>.AlternateLookup<ReadOnlySpan<char>> _rulesSubdomainLookup;
    private readonly List<(HostPattern Pattern, CompiledRules Rules)> _rulesGlobs = [];
    private readonly HostPattern[] _passthrough;

    public PolicyEngine(PolicyDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        Document = document;
        _exactLookup = _exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _globsByRestLookup = _globsByRest.GetAlternateLookup<ReadOnlySpan<char>>();
        _subdomainLookup = _subdomains.GetAlternateLookup<ReadOnlySpan<char>>();
        _rulesExactLookup = _rulesExact.GetAlternateLookup<ReadOnlySpan<char>>();
        _rulesSubdomainLookup = _rulesSubdomains.GetAlternateLookup<ReadOnlySpan<char>>();

        foreach (var ep in document.AllowedEndpoints)
        {
            var entry = ep.Host.Kind switch
            {
                HostPatternKind.Exact => GetOrAdd(_exact, ep.Host.Name),
                HostPatternKind.Subdomains => GetOrAdd(_subdomains, ep.Host.Name),
                HostPatternKind.Address => GetOrAdd(_addresses, ep.Host.Address!),
                _ => GlobEntry(ep.Host),
            };
            entry.Add(ep.Port, ep.Transport, "allowed-endpoints: " + ep.Text + Origin(ep.Source));
        }

        _cidrs = [.. document.AllowedCidrs.Select(c => (c, "allowed-cidrs: " + c.Text + Origin(c.Source)))];

        foreach (var rs in document.Rules)
        {
            var compiled = new CompiledRules(rs);
            switch (rs.Host.Kind)
            {
                case HostPatternKind.Exact:
                case HostPatternKind.Address:
                    _rulesExact[rs.Host.Name] = compiled;
                    break;
                case HostPatternKind.Subdomains:
                    _rulesSubdomains[rs.Host.Name] = compiled;
                    break;
                default:
                    _rulesGlobs.Add((rs.Host, compiled));
                    break;
            }
        }

        _passthrough = [.. document.TlsPassthrough];
        Mode = document.EgressPolicy;
    }

    public PolicyDocument Document { get; }

    public EgressMode Mode { get; }

    /// <summary>May this name be resolved? True when some allowed endpoint (any port) matches it.</summary>
    public Verdict DecideDns(ReadOnlySpan<char> name)
    {
        name = HostName.TrimTrailingDot(name);
        if (name.IsEmpty)
        {
            return Verdict.Deny(RuleBadHost);
        }

        if (!HostName.IsAscii(name))
        {
            var ascii = HostName.Normalize(name.ToString());
            return ascii is null ? Verdict.Deny(RuleBadHost) : DecideDns(ascii.AsSpan());
        }

        var entry = FindFirst(name, out _);
        return entry is null ? Verdict.Deny(RuleNotAllowed) : Verdict.Allow(entry.AnyRule);
    }

    /// <summary>Every port the policy grants <paramref name="name"/>: the firewall opens exactly these for the name's resolved addresses.</summary>
    public IReadOnlyList<PortGrant> GetGrants(string name)
    {
        var normalized = HostName.Normalize(name);
        if (normalized is null)
        {
            return [];
        }

        var grants = new List<PortGrant>();
        foreach (var entry in FindAll(normalized))
        {
            foreach (var g in entry.Grants)
            {
                var pg = new PortGrant(g.Port, g.Transport);
                if (!grants.Contains(pg))
                {
                    grants.Add(pg);
                }
            }
        }

        return grants;
    }

    /// <summary>A layer-4 question: may a flow go to this host name or address literal, port and transport?</summary>
    public Verdict DecideConnection(ReadOnlySpan<char> hostOrAddress, int port, Transport transport)
    {
        var host = HostName.TrimTrailingDot(hostOrAddress);
        if (TryParseAddress(host, out var address))
        {
            return DecideAddress(address, port, transport);
        }

        if (host.IsEmpty)
        {
            return Verdict.Deny(RuleBadHost);
        }

        if (!HostName.IsAscii(host))
        {
            var ascii = HostName.Normalize(host.ToString());
            return ascii is null ? Verdict.Deny(RuleBadHost) : DecideConnection(ascii.AsSpan(), port, transport);
        }

        return TryGrant(host, port, transport, out var rule) ? Verdict.Allow(rule) : Verdict.Deny(RuleNotAllowed);
    }

    /// <summary>May a flow go to this address (an address literal endpoint or an allowed CIDR)?</summary>
    public Verdict DecideAddress(IPAddress address, int port, Transport transport)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (_addresses.Count > 0 && _addresses.TryGetValue(Unscoped(address), out var entry) && entry.TryGet(port, transport, out var rule))
        {
            return Verdict.Allow(rule);
        }

        foreach (var (spec, text) in _cidrs)
        {
            if (spec.Transport == transport && (spec.Port is null || spec.Port == port) && spec.Network.Contains(address))
            {
                return Verdict.Allow(text);
            }
        }

        return Verdict.Deny(RuleAddressNotAllowed);
    }

    /// <summary>
    /// A layer-7 question. The host and port must match an allowed endpoint (TCP); if the host has <c>rules</c>, the
    /// normalised path and the method must match an <c>allow</c> entry and no <c>deny</c> entry (deny wins).
    /// </summary>
    public Verdict DecideHttp(ReadOnlySpan<char> host, int port, ReadOnlySpan<char> method, ReadOnlySpan<char> path)
    {
        // the layer-4 check and the rules lookup must see the same name: a non-ASCII spelling that IDNA maps onto
        // an allowed name ('api\u3002github.com') would otherwise pass layer 4 and then miss that host's rules
        if (!TryAsciiHost(host, out var asciiHost))
        {
            return Verdict.Deny(RuleBadHost);
        }

        var l4 = DecideConnection(asciiHost, port, Transport.Tcp);
        if (!l4.IsAllowed)
        {
            return l4;
        }

        if (!MethodSet.IsToken(method))
        {
            return Verdict.Deny(RuleBadMethod);
        }

        var rules = FindRules(asciiHost);
        if (rules is null)
        {
            return l4;
        }

        Span<char> buffer = stackalloc char[Math.Min(Math.Max(path.Length, 1), PathNormalizer.MaxLength)];
        var n = path.Length > PathNormalizer.MaxLength ? -1 : PathNormalizer.Normalize(path, buffer);
        if (n < 0)
        {
            return Verdict.Deny(RuleBadPath);
        }

        return rules.Decide(method, buffer[..n]);
    }

    /// <summary>Convenience overload for a URL (explain, tests). The path is taken as written (see <see cref="RequestTarget"/>), not as <see cref="Uri"/> normalises it.</summary>
    public Verdict DecideHttp(Uri url, string method)
    {
        ArgumentNullException.ThrowIfNull(url);
        return RequestTarget.TryParse(url.OriginalString, out var target, out _)
            ? target!.Decide(this, method)
            : Verdict.Deny(RuleBadHost);
    }

    /// <summary>Is this host spliced (not intercepted) after the SNI check?</summary>
    public bool IsPassthrough(ReadOnlySpan<char> host)
    {
        if (!TryAsciiHost(host, out var asciiHost))
        {
            return false;
        }

        foreach (var p in _passthrough)
        {
            if (p.Matches(asciiHost))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Does this host have layer-7 rules (so its requests must be inspected)?</summary>
    public bool HasRules(ReadOnlySpan<char> host) => TryAsciiHost(host, out var asciiHost) && FindRules(asciiHost) is not null;

    internal static bool TryParseAddress(ReadOnlySpan<char> host, out IPAddress address)
    {
        address = IPAddress.None;
        if (host.IsEmpty)
        {
            return false;
        }

        if (host[0] == '[' && host[^1] == ']')
        {
            host = host[1..^1];
        }

        var c = host[0];
        if (!(char.IsAsciiDigit(c) || host.Contains(':')))
        {
            return false;
        }

        if (!IPAddress.TryParse(host, out var parsed))
        {
            return false;
        }

        if (parsed.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Count('.') != 3)
        {
            return false;
        }

        address = parsed.IsIPv4MappedToIPv6 ? parsed.MapToIPv4() : parsed;
        return true;
    }

    /// <summary>The host without a trailing dot, in ASCII (punycode) form; allocates only for non-ASCII input.</summary>
    private static bool TryAsciiHost(ReadOnlySpan<char> host, out ReadOnlySpan<char> ascii)
    {
        host = HostName.TrimTrailingDot(host);
        if (HostName.IsAscii(host))
        {
            ascii = host;
            return !host.IsEmpty;
        }

        var normalized = HostName.Normalize(host.ToString());
        ascii = normalized;
        return normalized is not null;
    }

    private static IPAddress Unscoped(IPAddress a)
    {
        if (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && a.ScopeId != 0)
        {
            return new IPAddress(a.GetAddressBytes());
        }

        return a;
    }

    private static string Origin(SourceLocation source) =>
        source.File.StartsWith("preset:", StringComparison.Ordinal) ? $" (preset {source.File["preset:".Length..]})" : "";

    private static HostEntry GetOrAdd<TKey>(Dictionary<TKey, HostEntry> d, TKey key)
        where TKey : notnull
    {
        if (!d.TryGetValue(key, out var e))
        {
            e = new HostEntry();
            d[key] = e;
        }

        return e;
    }

    private HostEntry GlobEntry(HostPattern pattern)
    {
        foreach (var (p, e) in _globs)
        {
            if (p.Equals(pattern))
            {
                return e;
            }
        }

        var entry = new HostEntry();
        _globs.Add((pattern, entry));
        if (!_globsByRest.TryGetValue(pattern.Name, out var list))
        {
            list = [];
            _globsByRest[pattern.Name] = list;
        }

        list.Add((pattern, entry));
        return entry;
    }

    private bool TryGrant(ReadOnlySpan<char> host, int port, Transport transport, out string rule)
    {
        if (_exactLookup.TryGetValue(host, out var e) && e.TryGet(port, transport, out rule))
        {
            return true;
        }

        // most specific wildcard first: for a.b.c.d try *.b.c.d, then *.c.d, ...
        for (var i = host.IndexOf('.'); i >= 0 && i < host.Length - 1; i = NextDot(host, i))
        {
            if (_subdomainLookup.TryGetValue(host[(i + 1)..], out e) && e.TryGet(port, transport, out rule))
            {
                return true;
            }
        }

        if (GlobsFor(host) is { } globs)
        {
            foreach (var (p, entry) in globs)
            {
                if (p.Matches(host) && entry.TryGet(port, transport, out rule))
                {
                    return true;
                }
            }
        }

        rule = "";
        return false;
    }

    private HostEntry? FindFirst(ReadOnlySpan<char> host, out HostPattern? glob)
    {
        glob = null;
        if (_exactLookup.TryGetValue(host, out var e))
        {
            return e;
        }

        for (var i = host.IndexOf('.'); i >= 0 && i < host.Length - 1; i = NextDot(host, i))
        {
            if (_subdomainLookup.TryGetValue(host[(i + 1)..], out e))
            {
                return e;
            }
        }

        if (GlobsFor(host) is { } globs)
        {
            foreach (var (p, entry) in globs)
            {
                if (p.Matches(host))
                {
                    glob = p;
                    return entry;
                }
            }
        }

        return null;
    }

    private List<(HostPattern Pattern, HostEntry Entry)>? GlobsFor(ReadOnlySpan<char> host)
    {
        var dot = host.IndexOf('.');
        return dot > 0 && _globsByRestLookup.TryGetValue(host[(dot + 1)..], out var list) ? list : null;
    }

    private IEnumerable<HostEntry> FindAll(string host)
    {
        if (_exact.TryGetValue(host, out var e))
        {
            yield return e;
        }

        for (var i = host.IndexOf('.', StringComparison.Ordinal); i >= 0 && i < host.Length - 1; i = host.IndexOf('.', i + 1))
        {
            if (_subdomains.TryGetValue(host[(i + 1)..], out e))
            {
                yield return e;
            }
        }

        foreach (var (p, entry) in _globs)
        {
            if (p.Matches(host))
            {
                yield return entry;
            }
        }
    }

    private CompiledRules? FindRules(ReadOnlySpan<char> host)
    {
        if (_rulesExact.Count == 0 && _rulesSubdomains.Count == 0 && _rulesGlobs.Count == 0)
        {
            return null;
        }

        if (TryParseAddress(host, out var address))
        {
            return _rulesExact.GetValueOrDefault(address.ToString());
        }

        if (_rulesExactLookup.TryGetValue(host, out var r))
        {
            return r;
        }

        for (var i = host.IndexOf('.'); i >= 0 && i < host.Length - 1; i = NextDot(host, i))
        {
            if (_rulesSubdomainLookup.TryGetValue(host[(i + 1)..], out r))
            {
                return r;
            }
        }

        foreach (var (p, rules) in _rulesGlobs)
        {
            if (p.Matches(host))
            {
                return rules;
            }
        }

        return null;
    }

    private static int NextDot(ReadOnlySpan<char> host, int i)
    {
        var next = host[(i + 1)..].IndexOf('.');
        return next < 0 ? -1 : i + 1 + next;
    }

    private sealed class HostEntry
    {
        public List<(int Port, Transport Transport, string Rule)> Grants { get; } = [];

        public string AnyRule => Grants[0].Rule;

        public void Add(int port, Transport transport, string rule)
        {
            foreach (var g in Grants)
            {
                if (g.Port == port && g.Transport == transport)
                {
                    return;
                }
            }

            Grants.Add((port, transport, rule));
        }

        public bool TryGet(int port, Transport transport, out string rule)
        {
            foreach (var g in Grants)
            {
                if (g.Port == port && g.Transport == transport)
                {
                    rule = g.Rule;
                    return true;
                }
            }

            rule = "";
            return false;
        }
    }

    private sealed class CompiledRules
    {
        private readonly (HttpRule Rule, string Text)[] _allow;
        private readonly (HttpRule Rule, string Text)[] _deny;
        private readonly string _noMatch;

        public CompiledRules(HostRuleSet set)
        {
            var prefix = $"rules[{set.Host.Text}]";
            _allow = [.. set.Allow.Select(r => (r, $"{prefix} allow {r.Text}{Origin(r.Source)}"))];
            _deny = [.. set.Deny.Select(r => (r, $"{prefix} deny {r.Text}{Origin(r.Source)}"))];
            _noMatch = $"{prefix}: no allow entry matches";
        }

        public Verdict Decide(ReadOnlySpan<char> method, ReadOnlySpan<char> normalizedPath)
        {
            foreach (var (rule, text) in _deny)
            {
                if (rule.Methods.Matches(method) && rule.Path.Matches(normalizedPath))
                {
                    return Verdict.Deny(text);
                }
            }

            foreach (var (rule, text) in _allow)
            {
                if (rule.Methods.Matches(method) && rule.Path.Matches(normalizedPath))
                {
                    return Verdict.Allow(text);
                }
            }

            return Verdict.Deny(_noMatch);
        }
    }
}
