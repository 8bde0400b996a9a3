using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using HardenRunner.Events;
using HardenRunner.Store;

namespace HardenRunner.Reporting;

/// <summary>
/// The report's <c>recommendedPolicy</c> for now: a block-mode policy whose <c>allowed-endpoints</c> are the named
/// endpoints the run reached (allowed, or passed in audit mode). Endpoints that were blocked, destinations reached by
/// address only, and names that were only resolved are listed as comments, never allowed. The insights work replaces
/// this with a recommender across runs (path rules, presets, token permissions). Feed it every network event, then
/// call <see cref="ToYaml"/>; the YAML is a valid policy file (tests load it with the policy loader).
/// </summary>
public sealed partial class ObservedEndpointsPolicy
{
    /// <summary>Most entries per list; the rest is counted in a comment.</summary>
    public const int MaxEntries = 1_000;

    private readonly SortedSet<string> _allowed = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _blocked = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _byAddress = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _resolvedNames = new(StringComparer.Ordinal);
    private readonly HashSet<string> _connectedNames = new(StringComparer.Ordinal);
    private long _overflow;

    public void Add(NetworkEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var host = NormalizeHost(e.Host);
        if (e.Kind == "dns")
        {
            if (host is not null)
            {
                AddBounded(_resolvedNames, host);
            }

            return;
        }

        if (host is not null)
        {
            _connectedNames.Add(host);
            AddBounded(e.Action == NetworkEvent.Blocked ? _blocked : _allowed, Endpoint(host, e.Port));
        }
        else if ((e.Host ?? e.Address) is { } literal && IPAddress.TryParse(literal, out var ip))
        {
            AddBounded(_byAddress, ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? $"[{ip}]:{e.Port.ToString(CultureInfo.InvariantCulture)}"
                : $"{ip}:{e.Port.ToString(CultureInfo.InvariantCulture)}");
        }
    }

    public string ToYaml(RunInfo run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var sb = new StringBuilder();
        sb.Append("# Recommended by harden-runner from run ").Append(Comment(run.Id));
        if (run.Repository is not null || run.Workflow is not null || run.Job is not null)
        {
            sb.Append(" (").Append(Comment(string.Join(" / ", new[] { run.Repository, run.Workflow, run.Job }.Where(x => x is not null)))).Append(')');
        }

        sb.Append(".\n# The endpoints this run reached by name; review before use.\n");
        sb.Append("egress-policy: block\n");
        if (_allowed.Count == 0)
        {
            sb.Append("allowed-endpoints: []\n");
        }
        else
        {
            sb.Append("allowed-endpoints:\n");
            foreach (var endpoint in _allowed)
            {
                sb.Append("  - \"").Append(endpoint).Append("\"\n");
            }
        }

        AppendComments(sb, "Blocked in this run (add only what the job needs):", _blocked.Where(b => !_allowed.Contains(b)));
        AppendComments(sb, "Reached by address, without a name (not added; use allowed-cidrs if the job needs them):", _byAddress);
        AppendComments(sb, "Resolved but not connected to by name (not added):", _resolvedNames.Where(n => !_connectedNames.Contains(n)));
        if (_overflow > 0)
        {
            sb.Append(CultureInfo.InvariantCulture, $"# ({_overflow} more entries were left out)\n");
        }

        return sb.ToString();
    }

    private static void AppendComments(StringBuilder sb, string title, IEnumerable<string> items)
    {
        var first = true;
        foreach (var item in items)
        {
            if (first)
            {
                sb.Append("# ").Append(title).Append('\n');
                first = false;
            }

            sb.Append("#   - ").Append(item).Append('\n');
        }
    }

    private void AddBounded(SortedSet<string> set, string item)
    {
        if (set.Count < MaxEntries || set.Contains(item))
        {
            set.Add(item);
        }
        else
        {
            _overflow++;
        }
    }

    private static string Endpoint(string host, int port) => $"{host}:{port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>A host name fit for a policy (lower case, no trailing dot, LDH labels), or null (IP literals, redacted or odd names).</summary>
    private static string? NormalizeHost(string? host)
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
}
