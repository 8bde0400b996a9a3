using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using HardenRunner.Events;
using HardenRunner.Reporting;
using HardenRunner.Store;

namespace HardenRunner.Insights.Recommendation;

/// <summary>Tuning of <see cref="PolicyRecommender"/>.</summary>
public sealed record RecommenderOptions
{
    /// <summary>Distinct sibling names under one parent domain (at or below a registrable domain) that make a wildcard.</summary>
    public int WildcardThreshold { get; init; } = 4;

    /// <summary>Hosts that get layer-7 <c>rules</c> scoped to the owner/repo paths seen (GitHub API and git hosts).</summary>
    public IReadOnlyList<string> RuleHosts { get; init; } = ["api.github.com", "uploads.github.com", "github.com"];

    /// <summary>Most distinct non-repository paths listed per host and method before they are folded to their first segment.</summary>
    public int MaxExactPaths { get; init; } = 12;
}

/// <summary>
/// The recommended policy of a job from its runs (the current one and past ones of the same repository/workflow/job):
/// block mode; <c>allowed-endpoints</c> with ports for every name the job reached (allowed, or passed in audit mode);
/// a <c>*.</c> wildcard only where many sibling names of one registrable domain were reached (said in a comment);
/// <c>rules</c> for GitHub API and git hosts allowing the methods seen on each observed <c>/repos/{owner}/{repo}</c>
/// (or <c>/{owner}/{repo}</c> for git) and the exact other paths seen; a comment on every entry saying which steps
/// and how many runs reached it. Blocked destinations, address-only destinations and names that were only resolved
/// are comments, never allowed. Feed events with <see cref="Add"/>, then <see cref="ToYaml"/>; the text is a policy
/// that <c>policy check</c> accepts (every test loads it). Pure and bounded.
/// </summary>
public sealed partial class PolicyRecommender(RecommenderOptions? options = null)
{
    /// <summary>Most endpoints (and most entries of each comment list) kept.</summary>
    public const int MaxEntries = 1_000;

    private readonly RecommenderOptions _options = options ?? new RecommenderOptions();
    private readonly Dictionary<(string Host, int Port, bool Udp), Seen> _endpoints = [];
    private readonly Dictionary<(string Host, int Port, bool Udp), Seen> _blocked = [];
    private readonly Dictionary<string, Seen> _byAddress = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Seen> _resolved = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HostPaths> _paths = new(StringComparer.Ordinal);
    private readonly List<RunInfo> _runs = [];
    private long _overflow;

    /// <summary>Starts the events of another run (call before its events; the first run is the current one).</summary>
    public void BeginRun(RunInfo run)
    {
        ArgumentNullException.ThrowIfNull(run);
        _runs.Add(run);
    }

    public void Add(NetworkEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var runId = _runs.Count > 0 ? _runs[^1].Id : "";
        var step = StepName(e.Step);
        var host = NormalizeHost(e.Host);
        if (e.Kind == "dns")
        {
            if (host is not null)
            {
                Note(_resolved, host, runId, step);
            }

            return;
        }

        var udp = e.Kind == "udp";
        if (host is null)
        {
            if ((e.Host ?? e.Address) is { } literal && IPAddress.TryParse(literal, out var ip))
            {
                var text = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString();
                Note(_byAddress, $"{text}:{e.Port.ToString(CultureInfo.InvariantCulture)}{(udp ? "/udp" : "")}", runId, step);
            }

            return;
        }

        if (e.Port is <= 0 or > 65535)
        {
            return;
        }

        var key = (host, e.Port, udp);
        if (e.Action == NetworkEvent.Blocked)
        {
            Note(_blocked, key, runId, step);
            return;
        }

        if (!Note(_endpoints, key, runId, step))
        {
            return;
        }

        if (_options.RuleHosts.Contains(host, StringComparer.Ordinal) && e.Kind is "https" or "http")
        {
            if (!_paths.TryGetValue(host, out var paths))
            {
                paths = new HostPaths();
                _paths[host] = paths;
            }

            paths.Add(host, e.Method, e.Path, _options.MaxExactPaths);
        }
    }

    public string ToYaml()
    {
        var sb = new StringBuilder();
        var current = _runs.FirstOrDefault();
        sb.Append(CultureInfo.InvariantCulture, $"# Recommended by harden-runner from {_runs.Count} run(s)");
        if (current is not null)
        {
            var job = string.Join(" / ", new[] { current.Repository, current.Workflow, current.Job }.Where(x => x is not null));
            if (job.Length > 0)
            {
                sb.Append(" of ").Append(Comment(job));
            }

            sb.Append(": ").Append(Comment(string.Join(", ", _runs.Take(10).Select(r => r.Id)))).Append(_runs.Count > 10 ? ", …" : "");
        }

        sb.Append(".\n# Every allowed entry was reached in those runs; comments say by which steps. Review before committing.\n");
        sb.Append("egress-policy: block\n");

        var wildcards = Wildcards();
        var covered = new HashSet<(string, int, bool)>(wildcards.SelectMany(w => w.Members.Select(m => (m, w.Port, w.Udp))));
        var entries = new List<(string Text, string Note)>();
        foreach (var w in wildcards)
        {
            var seen = Merge(w.Members.Select(m => _endpoints[(m, w.Port, w.Udp)]));
            entries.Add((Endpoint("*." + w.Parent, w.Port, w.Udp),
                $"wildcard: {w.Members.Count} sibling names of {w.Parent} were reached ({string.Join(", ", w.Members.Take(5))}{(w.Members.Count > 5 ? ", …" : "")}); {Describe(seen)}"));
        }

        foreach (var (key, seen) in _endpoints.OrderBy(k => k.Key.Host, StringComparer.Ordinal).ThenBy(k => k.Key.Port))
        {
            if (!covered.Contains(key))
            {
                entries.Add((Endpoint(key.Host, key.Port, key.Udp), Describe(seen)));
            }
        }

        if (entries.Count == 0)
        {
            sb.Append("allowed-endpoints: []\n");
        }
        else
        {
            sb.Append("allowed-endpoints:\n");
            foreach (var (text, note) in entries)
            {
                sb.Append("  - \"").Append(text).Append("\"  # ").Append(Comment(note)).Append('\n');
            }
        }

        AppendRules(sb);

        AppendComments(sb, "Blocked in these runs (not allowed; add only what the job needs):", _blocked
            .Where(b => !_endpoints.ContainsKey(b.Key))
            .OrderBy(b => b.Key.Host, StringComparer.Ordinal)
            .Select(b => $"{Endpoint(b.Key.Host, b.Key.Port, b.Key.Udp)}  ({Describe(b.Value)})"));
        AppendComments(sb, "Reached by address, without a name (not allowed; use allowed-cidrs if the job needs them):", _byAddress
            .OrderBy(a => a.Key, StringComparer.Ordinal)
            .Select(a => $"{a.Key}  ({Describe(a.Value)})"));
        var connected = new HashSet<string>(_endpoints.Keys.Select(k => k.Host).Concat(_blocked.Keys.Select(k => k.Host)), StringComparer.Ordinal);
        AppendComments(sb, "Resolved but never connected to by name (not allowed):", _resolved
            .Where(r => !connected.Contains(r.Key))
            .OrderBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => $"{r.Key}  ({Describe(r.Value)})"));
        if (_overflow > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"# ({_overflow} more destinations were left out: the recommender keeps at most {MaxEntries})\n");
        }

        return sb.ToString();
    }

    private void AppendRules(StringBuilder sb)
    {
        var hosts = _paths.Where(p => p.Value.CanScope && p.Value.Requests > 0).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        if (hosts.Count == 0)
        {
            return;
        }

        sb.Append("# Layer-7 rules: only the methods seen on each repository (and the other exact paths seen) are allowed.\n");
        sb.Append("rules:\n");
        foreach (var (host, paths) in hosts)
        {
            sb.Append("  - host: ").Append(host).Append('\n');
            sb.Append("    allow:\n");
            foreach (var (pattern, methods, count) in paths.Patterns())
            {
                sb.Append("      - { method: ").Append(methods.Contains("*") ? "\"*\"" : methods.Count == 1 ? methods.First() : "[" + string.Join(", ", methods) + "]")
                    .Append(", path: \"").Append(pattern).Append("\" }")
                    .Append(CultureInfo.InvariantCulture, $"  # {count} request(s)\n");
            }
        }
    }

    private List<(string Parent, int Port, bool Udp, List<string> Members)> Wildcards()
    {
        var result = new List<(string, int, bool, List<string>)>();
        var groups = _endpoints.Keys
            .Select(k => (Key: k, Parent: ParentOf(k.Host)))
            .Where(x => x.Parent is not null && RegistrableDomain.IsAtOrBelowRegistrable(x.Parent))
            .GroupBy(x => (x.Parent!, x.Key.Port, x.Key.Udp));
        foreach (var g in groups)
        {
            var members = g.Select(x => x.Key.Host).Distinct(StringComparer.Ordinal).OrderBy(h => h, StringComparer.Ordinal).ToList();
            if (members.Count >= _options.WildcardThreshold)
            {
                result.Add((g.Key.Item1, g.Key.Port, g.Key.Udp, members));
            }
        }

        return result;
    }

    private static string? ParentOf(string host)
    {
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && dot < host.Length - 1 ? host[(dot + 1)..] : null;
    }

    private string Describe(Seen seen)
    {
        var runs = $"{seen.Runs.Count} of {Math.Max(_runs.Count, 1)} run(s); ";
        var steps = seen.Steps.Count == 0 ? "step unknown" : "steps: " + string.Join(", ", seen.Steps.Take(6)) + (seen.Steps.Count > 6 ? ", …" : "");
        return $"{runs}{steps}";
    }

    private static Seen Merge(IEnumerable<Seen> all)
    {
        var merged = new Seen();
        foreach (var s in all)
        {
            merged.Runs.UnionWith(s.Runs);
            foreach (var step in s.Steps.Where(_ => merged.Steps.Count < 32))
            {
                merged.Steps.Add(step);
            }
        }

        return merged;
    }

    private bool Note<TKey>(Dictionary<TKey, Seen> map, TKey key, string runId, string? step)
        where TKey : notnull
    {
        if (!map.TryGetValue(key, out var seen))
        {
            if (map.Count >= MaxEntries)
            {
                _overflow++;
                return false;
            }

            seen = new Seen();
            map[key] = seen;
        }

        seen.Runs.Add(runId);
        if (step is not null && seen.Steps.Count < 32)
        {
            seen.Steps.Add(step);
        }

        return true;
    }

    private static void AppendComments(StringBuilder sb, string title, IEnumerable<string> items)
    {
        var first = true;
        foreach (var item in items.Take(MaxEntries))
        {
            if (first)
            {
                sb.Append("# ").Append(title).Append('\n');
                first = false;
            }

            sb.Append("#   - ").Append(Comment(item)).Append('\n');
        }
    }

    private static string Endpoint(string host, int port, bool udp) =>
        $"{host}:{port.ToString(CultureInfo.InvariantCulture)}{(udp ? "/udp" : "")}";

    private static string? StepName(StepInfo? step) =>
        step is null ? null : step.Uses is { Length: > 0 } uses ? $"{step.Action} ({uses})" : step.Action;

    /// <summary>A host name fit for a policy (lower case, no trailing dot, LDH labels), or null (IP literals, redacted or odd names).</summary>
    internal static string? NormalizeHost(string? host)
    {
        if (string.IsNullOrEmpty(host))
        {
            return null;
        }

        var h = host.TrimEnd('.').ToLowerInvariant();
        return h.Length <= 253 && HostName().IsMatch(h) && !IPAddress.TryParse(h, out _) ? h : null;
    }

    private static string Comment(string text) => SecretRedactor.Redact(text).ReplaceLineEndings(" ");

    [GeneratedRegex("^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex HostName();

    private sealed class Seen
    {
        public HashSet<string> Runs { get; } = new(StringComparer.Ordinal);

        public SortedSet<string> Steps { get; } = new(StringComparer.Ordinal);
    }
}
