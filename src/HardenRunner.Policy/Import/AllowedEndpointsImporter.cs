using System.Text;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Import;

/// <summary>
/// Turns a step-security/harden-runner <c>allowed-endpoints</c> input (space- or newline-separated <c>host[:port]</c>,
/// as written in a workflow, block scalars included) into a policy file.
/// </summary>
public static class AllowedEndpointsImporter
{
    public sealed record Result(string? Yaml, IReadOnlyList<string> Errors, int Count);

    public static Result Import(string input, EgressMode mode)
    {
        ArgumentNullException.ThrowIfNull(input);
        var entries = new List<EndpointSpec>();
        var errors = new List<string>();
        foreach (var token in Tokens(input))
        {
            if (!EndpointParser.TryParseEndpoint(token, new SourceLocation("--allowed-endpoints", 0, 0), out var ep, out var error))
            {
                errors.Add(error!);
            }
            else if (!entries.Any(e => e.Text == ep!.Text))
            {
                entries.Add(ep!);
            }
        }

        if (errors.Count > 0)
        {
            return new Result(null, errors, 0);
        }

        var sb = new StringBuilder();
        sb.Append("# Imported from a step-security/harden-runner allowed-endpoints list by 'harden-runner policy import'.\n");
        sb.Append("# Review it, then commit it as .harden/policy.yml. Reference: docs/policy.md\n");
        sb.Append("egress-policy: ").Append(mode == EgressMode.Block ? "block" : "audit").Append('\n');
        if (entries.Count == 0)
        {
            sb.Append("allowed-endpoints: []\n");
        }
        else
        {
            sb.Append("allowed-endpoints:\n");
            foreach (var e in entries)
            {
                sb.Append("  - \"").Append(e.Text).Append("\"\n");
            }
        }

        return new Result(sb.ToString(), errors, entries.Count);
    }

    /// <summary>The entries of the input, tolerating what people paste: the key itself, a block scalar indicator, quotes, comments.</summary>
    internal static IEnumerable<string> Tokens(string input)
    {
        foreach (var rawLine in input.Split('\n'))
        {
            var line = rawLine;
            var hash = line.IndexOf(" #", StringComparison.Ordinal);
            if (line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            if (hash >= 0)
            {
                line = line[..hash];
            }

            foreach (var token in PolicyLoader.SplitEndpointList(line))
            {
                var t = token.Trim('"', '\'');
                if (t.Length == 0 || t is ">" or "|" or ">-" or "|-" or ">+" or "|+" or "-"
                    || t.Equals("allowed-endpoints:", StringComparison.Ordinal))
                {
                    continue;
                }

                yield return t;
            }
        }
    }
}
