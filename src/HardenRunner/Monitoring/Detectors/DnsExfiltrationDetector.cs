using System.Collections.Concurrent;
using System.Globalization;
using HardenRunner.Events;

namespace HardenRunner.Monitoring.Detectors;

/// <summary>Thresholds of <see cref="DnsExfiltrationDetector"/>.</summary>
public sealed record DnsExfiltrationOptions
{
    /// <summary>Distinct encoded-looking names under one domain, within <see cref="Window"/>, that raise the detection.</summary>
    public int MinEncodedNames { get; init; } = 10;

    /// <summary>Distinct names of any kind under one domain within <see cref="Window"/> that raise it too (wildcard-zone floods).</summary>
    public int MinDistinctNames { get; init; } = 200;

    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Shortest subdomain (labels joined, separators removed) that can count as encoded data.</summary>
    public int MinEncodedLength { get; init; } = 12;

    /// <summary>Shannon entropy, bits per character, an encoded-looking subdomain must reach.</summary>
    public double MinEntropy { get; init; } = 3.0;

    /// <summary>Domains tracked at once (oldest dropped first).</summary>
    public int MaxDomains { get; init; } = 4096;
}

/// <summary>
/// dns-exfiltration: many distinct, encoded-looking names queried under one registrable domain within a window —
/// data smuggled out in query labels (<c>&lt;base32 of a secret&gt;.attacker.example</c>), which only needs the
/// attacker's authoritative server to see the query, even when every answer is NXDOMAIN. Pure (fed names by the DNS
/// server, no I/O); one detection per domain. A subdomain is encoded-looking when it is long, of high entropy and
/// mixes letters with digits the way hex/base32/base64 do (or is very long and random); names under provider zones
/// whose DNS no attacker runs (amazonaws.com, windows.net, arpa, …) are not counted. The evidence holds counts and
/// lengths only — never the names, which may carry the very secret being stolen. Thread-safe.
/// </summary>
public sealed class DnsExfiltrationDetector
{
    private static readonly HashSet<string> SecondLevelOfCountryCode = new(StringComparer.Ordinal)
    {
        "co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "mil", "gob", "nic", "ltd", "plc", "sch",
    };

    // zones whose authoritative DNS belongs to a provider: a query under them never reaches an attacker
    private static readonly string[] ProviderZones =
    [
        "arpa", "amazonaws.com", "cloudfront.net", "windows.net", "azure.com", "azureedge.net", "azurefd.net",
        "trafficmanager.net", "googleapis.com", "appspot.com", "gvt1.com", "cloudflarestorage.com", "akamaiedge.net",
        "akamai.net", "fastly.net", "github.com", "githubusercontent.com", "github.io", "ghcr.io", "docker.io",
    ];

    private readonly DnsExfiltrationOptions _options;
    private readonly object _gate = new();
    private readonly Dictionary<string, DomainWindow> _domains = new(StringComparer.Ordinal);
    private readonly Queue<string> _domainOrder = new();
    private readonly HashSet<string> _reported = new(StringComparer.Ordinal);

    // a job asks for the same names again and again: each name is split and scored once (bounded; starts over when full)
    private readonly ConcurrentDictionary<string, ParsedName?> _parsed = new(StringComparer.Ordinal);

    private const int ParsedCapacity = 8192;

    public DnsExfiltrationDetector(DnsExfiltrationOptions? options = null) => _options = options ?? new DnsExfiltrationOptions();

    /// <summary>
    /// Feeds one queried name. Returns the detection the first time a domain crosses a threshold (with the process and
    /// step of this query, when the caller knows them), otherwise null.
    /// </summary>
    public DetectionEvent? Observe(string name, DateTimeOffset time, ProcessInfo? process = null, StepInfo? step = null)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return null;
        }

        if (ParseCached(name) is not { } parsed)
        {
            return null;
        }

        var (domain, sub, encoded) = parsed;

        lock (_gate)
        {
            if (_reported.Contains(domain))
            {
                return null;
            }

            var window = Window(domain);
            window.Add(sub, encoded, time, _options.Window);
            if (window.Encoded < _options.MinEncodedNames && window.Distinct < _options.MinDistinctNames)
            {
                return null;
            }

            _reported.Add(domain);
            _domains.Remove(domain);
            var inv = CultureInfo.InvariantCulture;
            var seconds = ((int)_options.Window.TotalSeconds).ToString(inv);
            return new DetectionEvent(
                time,
                DetectionTypes.DnsExfiltration,
                DetectionTypes.High,
                $"{window.Encoded} distinct encoded-looking names ({window.Distinct} distinct in all) queried under {domain} within {seconds} s",
                new Dictionary<string, string>
                {
                    ["domain"] = domain,
                    ["encodedNames"] = window.Encoded.ToString(inv),
                    ["distinctNames"] = window.Distinct.ToString(inv),
                    ["windowSeconds"] = seconds,
                    ["longestSubdomain"] = window.Longest.ToString(inv),
                    ["subdomainBytes"] = window.Bytes.ToString(inv),
                })
            { Process = process, Step = step };
        }
    }

    /// <summary>The counted parts of a queried name: its registrable domain, the subdomain under it, whether that looks encoded.</summary>
    private sealed record ParsedName(string Domain, string Subdomain, bool Encoded);

    private ParsedName? ParseCached(string name)
    {
        if (_parsed.TryGetValue(name, out var known))
        {
            return known;
        }

        if (_parsed.Count >= ParsedCapacity)
        {
            _parsed.Clear();
        }

        var parsed = Parse(name);
        _parsed[name] = parsed;
        return parsed;
    }

    /// <summary>Null when the name does not count: empty labels, no subdomain, or a provider zone.</summary>
    private ParsedName? Parse(string name)
    {
        var labels = name.Trim().TrimEnd('.').ToLowerInvariant().Split('.');
        if (labels.Any(l => l.Length == 0))
        {
            return null;
        }

        var domainLabels = RegistrableLabelCount(labels);
        if (labels.Length <= domainLabels)
        {
            return null;
        }

        var domain = string.Join('.', labels[^domainLabels..]);
        if (IsProviderZone(domain))
        {
            return null;
        }

        var sub = string.Join('.', labels[..^domainLabels]);
        return new ParsedName(domain, sub, LooksEncoded(sub, _options));
    }

    /// <summary>How many trailing labels form the registrable domain: 3 for example.co.uk-style names, else 2.</summary>
    internal static int RegistrableLabelCount(string[] labels)
    {
        if (labels.Length >= 3 && labels[^1].Length == 2 && SecondLevelOfCountryCode.Contains(labels[^2]))
        {
            return 3;
        }

        return Math.Min(2, labels.Length);
    }

    /// <summary>Whether a subdomain looks like encoded data (see the class remarks).</summary>
    internal static bool LooksEncoded(string subdomain, DnsExfiltrationOptions options)
    {
        Span<char> data = stackalloc char[Math.Min(subdomain.Length, 256)];
        var n = 0;
        foreach (var c in subdomain)
        {
            if (c is '.' or '-' or '_' || n == data.Length)
            {
                continue;
            }

            data[n++] = c;
        }

        data = data[..n];
        if (n < options.MinEncodedLength)
        {
            return false;
        }

        var entropy = Entropy(data);
        if (entropy < options.MinEntropy)
        {
            return false;
        }

        int digits = 0, transitions = 0;
        for (var i = 0; i < n; i++)
        {
            if (char.IsAsciiDigit(data[i]))
            {
                digits++;
            }

            if (i > 0 && char.IsAsciiDigit(data[i]) != char.IsAsciiDigit(data[i - 1]))
            {
                transitions++;
            }
        }

        var digitShare = (double)digits / n;
        return (digitShare is >= 0.08 and <= 0.9 && transitions >= 3) || (n >= 40 && entropy >= 3.8);
    }

    internal static double Entropy(ReadOnlySpan<char> s)
    {
        Span<int> counts = stackalloc int[128];
        var other = 0;
        foreach (var c in s)
        {
            if (c < 128)
            {
                counts[c]++;
            }
            else
            {
                other++;
            }
        }

        double h = 0;
        foreach (var count in counts)
        {
            if (count > 0)
            {
                var p = (double)count / s.Length;
                h -= p * Math.Log2(p);
            }
        }

        if (other > 0)
        {
            var p = (double)other / s.Length;
            h -= p * Math.Log2(p);
        }

        return h;
    }

    private static bool IsProviderZone(string domain)
    {
        foreach (var zone in ProviderZones)
        {
            // the zone itself or a name under it (no string built per zone: this runs for every DNS query)
            if (domain.EndsWith(zone, StringComparison.Ordinal) && (domain.Length == zone.Length || domain[^(zone.Length + 1)] == '.'))
            {
                return true;
            }
        }

        return false;
    }

    private DomainWindow Window(string domain)
    {
        if (_domains.TryGetValue(domain, out var w))
        {
            return w;
        }

        while (_domains.Count >= _options.MaxDomains && _domainOrder.TryDequeue(out var oldest))
        {
            _domains.Remove(oldest);
        }

        w = new DomainWindow();
        _domains[domain] = w;
        _domainOrder.Enqueue(domain);
        return w;
    }

    /// <summary>Distinct subdomains of one domain seen within the window (bounded).</summary>
    private sealed class DomainWindow
    {
        private const int MaxNames = 4096;
        private readonly Dictionary<string, bool> _names = new(StringComparer.Ordinal);
        private readonly Queue<(string Name, DateTimeOffset Time)> _order = new();

        public int Encoded { get; private set; }

        public int Distinct => _names.Count;

        public int Longest { get; private set; }

        public long Bytes { get; private set; }

        public void Add(string sub, bool encoded, DateTimeOffset time, TimeSpan window)
        {
            while (_order.TryPeek(out var head) && (time - head.Time > window || _order.Count >= MaxNames))
            {
                _order.Dequeue();
                if (_names.Remove(head.Name, out var wasEncoded))
                {
                    Bytes -= head.Name.Length;
                    if (wasEncoded)
                    {
                        Encoded--;
                    }
                }
            }

            if (!_names.TryAdd(sub, encoded))
            {
                return;
            }

            _order.Enqueue((sub, time));
            Bytes += sub.Length;
            Longest = Math.Max(Longest, sub.Length);
            if (encoded)
            {
                Encoded++;
            }
        }
    }
}
