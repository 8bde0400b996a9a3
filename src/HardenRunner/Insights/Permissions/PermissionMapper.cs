using HardenRunner.Events;

namespace HardenRunner.Insights.Permissions;

/// <summary>How a call's GITHUB_TOKEN requirement was decided.</summary>
public enum MatchOutcome
{
    /// <summary>Needs <see cref="PermissionMatch.Grant"/> (or one of the alternatives).</summary>
    Grant,

    /// <summary>Needs nothing GITHUB_TOKEN can be given (metadata, public data, runtime services).</summary>
    NoPermission,

    /// <summary>Needs an App permission GITHUB_TOKEN can never have: use a GitHub App or PAT.</summary>
    NotGrantable,

    /// <summary>Addresses another repository: GITHUB_TOKEN cannot reach it, whatever <c>permissions:</c> says.</summary>
    CrossRepository,

    /// <summary>Nothing in the data matches (reported, never dropped).</summary>
    Unknown,
}

/// <summary>What one call needs, and why (<see cref="Basis"/> is shown as evidence).</summary>
public sealed record PermissionMatch(MatchOutcome Outcome, ScopeLevel? Grant, IReadOnlyList<ScopeLevel> Alternatives, string Basis, string Source)
{
    /// <summary>Further grants the same call needs at once (a header set of several permissions, a GraphQL query over several resources).</summary>
    public IReadOnlyList<ScopeLevel> AlsoNeeded { get; init; } = [];

    public static PermissionMatch Unknown(string basis) => new(MatchOutcome.Unknown, null, [], basis, "");
}

/// <summary>
/// Maps a call to the GITHUB_TOKEN permission it needs (docs/insights.md): the <c>X-Accepted-GitHub-Permissions</c>
/// response header when GitHub sent one, else the cross-repository check, then GraphQL hints for <c>POST /graphql</c>,
/// then the data file's entries by its precedence (most literal segments, query/body constraints, exact host, then a
/// specific method over <c>*</c>, then the highest level). Pure.
/// </summary>
public sealed class PermissionMapper(PermissionTable table)
{
    /// <summary>App permission names (as in the response header) that map to a GITHUB_TOKEN key of another spelling or are implicit.</summary>
    private static readonly Dictionary<string, string> AppToToken = new(StringComparer.Ordinal)
    {
        ["actions"] = "actions",
        ["artifact_metadata"] = "artifact-metadata",
        ["attestations"] = "attestations",
        ["checks"] = "checks",
        ["contents"] = "contents",
        ["deployments"] = "deployments",
        ["discussions"] = "discussions",
        ["issues"] = "issues",
        ["metadata"] = "metadata",
        ["models"] = "models",
        ["packages"] = "packages",
        ["pages"] = "pages",
        ["pull_requests"] = "pull-requests",
        ["repository_projects"] = "repository-projects",
        ["security_events"] = "security-events",
        ["statuses"] = "statuses",
        ["vulnerability_alerts"] = "vulnerability-alerts",
    };

    public static PermissionMapper Default { get; } = new(PermissionTable.Default);

    public PermissionTable Table { get; } = table;

    /// <summary>
    /// What <paramref name="request"/> needs. <paramref name="ownRepository"/> is GITHUB_REPOSITORY (owner/name) when
    /// known; <paramref name="acceptedPermissions"/> the response header; <paramref name="graphQl"/> the operation of a
    /// <c>POST /graphql</c>.
    /// </summary>
    public PermissionMatch Map(GitHubRequest request, string? ownRepository = null, string? acceptedPermissions = null, GraphQlSummary? graphQl = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Method == "OPTIONS")
        {
            return new PermissionMatch(MatchOutcome.NoPermission, null, [], "OPTIONS needs no permission", "conventions");
        }

        // the token is scoped to its own repository: a call into another one is never fixed by permissions:
        if (ownRepository is not null && request.Repository is { } target && !request.RepositoryById
            && !string.Equals(target, ownRepository, StringComparison.OrdinalIgnoreCase)
            && Table.Entries.Any(e => e.MatchesHost(request.Host)))
        {
            return new PermissionMatch(MatchOutcome.CrossRepository, null, [], $"{target} is not the job's repository {ownRepository}", "dynamic_rules");
        }

        var best = BestEntry(request, out _);
        if (!string.IsNullOrWhiteSpace(acceptedPermissions))
        {
            var fromHeader = FromHeader(acceptedPermissions, best?.Grant);
            if (fromHeader is not null)
            {
                return fromHeader;
            }
        }

        if (best is { Kind: EntryKind.Dynamic, Resolution: "graphql-operation" })
        {
            return FromGraphQl(graphQl, ownRepository);
        }

        return best switch
        {
            null => PermissionMatch.Unknown($"no entry of the permission data matches {request.Method} {request.Host}{request.Path}"),
            { Kind: EntryKind.Grant } e when e.Grant!.Scope == "metadata" =>
                new PermissionMatch(MatchOutcome.NoPermission, e.Grant, [], $"{e.Describe()} needs metadata (always granted)", e.Source),
            { Kind: EntryKind.Grant } e => new PermissionMatch(MatchOutcome.Grant, e.Grant, e.Alternatives, e.Describe(), e.Source),
            { Kind: EntryKind.NotGrantable } e =>
                new PermissionMatch(MatchOutcome.NotGrantable, null, [], $"{e.Describe()} needs the App permission '{e.AppPermission}'", e.Source),
            { Kind: EntryKind.NoPermission } e => new PermissionMatch(MatchOutcome.NoPermission, null, [], e.Describe(), e.Source),
            _ => PermissionMatch.Unknown($"{request.Method} {request.Host}{request.Path} needs run-time information the data cannot give"),
        };
    }

    /// <summary>The entry that decides <paramref name="request"/> by the data's precedence, or null.</summary>
    public PermissionEntry? BestEntry(GitHubRequest request, out IReadOnlyDictionary<string, string> values)
    {
        ArgumentNullException.ThrowIfNull(request);
        PermissionEntry? best = null;
        values = new Dictionary<string, string>();
        foreach (var e in Table.Entries)
        {
            if (!e.MatchesMethod(request.Method) || !e.MatchesHost(request.Host) || !ConstraintsHold(e, request)
                || !e.Path.TryMatch(request.Segments, out var v))
            {
                continue;
            }

            // the cross-repository dynamic rule is handled before; it must not hide the endpoint's own entry
            if (e.Kind == EntryKind.Dynamic && e.Resolution == "cross-repository")
            {
                continue;
            }

            if (best is null || Compare(e, best) > 0)
            {
                best = e;
                values = v;
            }
        }

        return best;
    }

    /// <summary>Parses <c>X-Accepted-GitHub-Permissions</c>: alternative sets separated by ';', permissions in a set by ','.</summary>
    public static IReadOnlyList<IReadOnlyList<(string Permission, string Level)>> ParseHeader(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var sets = new List<IReadOnlyList<(string, string)>>();
        foreach (var set in value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var items = new List<(string, string)>();
            foreach (var item in set.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var eq = item.IndexOf('=', StringComparison.Ordinal);
                if (eq > 0)
                {
                    items.Add((item[..eq].Trim().ToLowerInvariant(), item[(eq + 1)..].Trim().ToLowerInvariant()));
                }
            }

            if (items.Count > 0)
            {
                sets.Add(items);
            }
        }

        return sets;
    }

    private PermissionMatch? FromHeader(string header, ScopeLevel? tableGrant)
    {
        var sets = ParseHeader(header);
        if (sets.Count == 0)
        {
            return null;
        }

        var basis = $"X-Accepted-GitHub-Permissions: {header.Trim()}";
        var usable = new List<List<ScopeLevel>>();
        foreach (var set in sets)
        {
            var mapped = new List<ScopeLevel>();
            var ok = true;
            foreach (var (permission, level) in set)
            {
                if (!AppToToken.TryGetValue(permission, out var scope) || !Table.Scopes.TryGetValue(scope, out var levels))
                {
                    ok = false;
                    break;
                }

                var l = level == "admin" ? "" : level;
                if (!levels.Contains(l))
                {
                    // a level the key does not offer (admin, or read of a write-only key): write covers read
                    if (level == "read" && levels.Contains("write"))
                    {
                        l = "write";
                    }
                    else
                    {
                        ok = false;
                        break;
                    }
                }

                if (scope != "metadata")
                {
                    mapped.Add(new ScopeLevel(scope, l));
                }
            }

            if (ok)
            {
                usable.Add(mapped);
            }
        }

        if (usable.Count == 0)
        {
            return new PermissionMatch(MatchOutcome.NotGrantable, null, [], basis, "header");
        }

        if (usable.Any(s => s.Count == 0))
        {
            return new PermissionMatch(MatchOutcome.NoPermission, null, [], basis, "header");
        }

        // one-permission sets are alternatives of each other; prefer the one the data names as primary
        var singles = usable.Where(s => s.Count == 1).Select(s => s[0]).ToList();
        if (singles.Count > 0)
        {
            var primary = singles.FirstOrDefault(s => s.Scope == tableGrant?.Scope) ?? singles[0];
            return new PermissionMatch(MatchOutcome.Grant, primary, singles.Where(s => s != primary).ToArray(), basis, "header");
        }

        // a set of several permissions, all needed: the first is the grant, the rest are recorded as also needed
        var first = usable[0];
        return new PermissionMatch(MatchOutcome.Grant, first[0], [], basis + " (all of: " + string.Join(", ", first) + ")", "header")
        {
            AlsoNeeded = first.Skip(1).ToArray(),
        };
    }

    private PermissionMatch FromGraphQl(GraphQlSummary? summary, string? ownRepository)
    {
        if (summary is null || summary.Operation == GraphQlSummary.Unknown)
        {
            return PermissionMatch.Unknown("POST /graphql whose operation could not be read" + (summary?.Error is { } err ? $" ({err})" : ""));
        }

        if (summary.Operation == "query" && ownRepository is not null && summary.Repositories.Count > 0
            && summary.Repositories.All(r => !string.Equals(r, ownRepository, StringComparison.OrdinalIgnoreCase)))
        {
            return new PermissionMatch(MatchOutcome.CrossRepository, null, [], $"GraphQL query on {string.Join(", ", summary.Repositories)}, not the job's repository {ownRepository}", "dynamic_rules");
        }

        var grants = new List<(ScopeLevel Grant, string Name)>();
        var unmatched = new List<string>();
        var tops = summary.Fields.Where(f => !f.Contains('.', StringComparison.Ordinal)).ToList();
        foreach (var top in tops)
        {
            if (top is "__typename" or "rateLimit")
            {
                continue;
            }

            var under = summary.Operation == "mutation"
                ? [top]
                : summary.Fields.Where(f => f == top || f.StartsWith(top + ".", StringComparison.Ordinal)).ToList();
            var matched = false;
            foreach (var hint in Table.GraphQlHints.Where(h => h.Kind == (summary.Operation == "mutation" ? "mutation" : "query")))
            {
                foreach (var f in under.Where(f => hint.Names.Contains(f, StringComparer.Ordinal)))
                {
                    matched = true;
                    if (hint.Grant is null)
                    {
                        return new PermissionMatch(MatchOutcome.NotGrantable, null, [], $"GraphQL {summary.Operation} {f}: {hint.Note}", hint.Source);
                    }

                    grants.Add((hint.Grant, f));
                }
            }

            if (!matched && !(summary.Operation == "query" && top == "repository"))
            {
                unmatched.Add(top);
            }
        }

        if (unmatched.Count > 0 && grants.Count == 0)
        {
            return PermissionMatch.Unknown($"GraphQL {summary.Operation} {string.Join(", ", unmatched)}: no hint in the permission data");
        }

        var needed = grants.Where(g => g.Grant.Scope != "metadata").ToList();
        if (needed.Count == 0)
        {
            return new PermissionMatch(MatchOutcome.NoPermission, null, [], $"GraphQL {summary.Operation} {string.Join(", ", summary.Fields.Take(8))} reads metadata only", "inferred");
        }

        // every distinct grant is needed: the strongest comes first, the rest ride along
        var ordered = needed.GroupBy(g => g.Grant.Scope, StringComparer.Ordinal)
            .Select(g => g.OrderByDescending(x => x.Grant.Level == "write").First())
            .ToList();
        var names = string.Join(", ", needed.Select(g => g.Name).Distinct(StringComparer.Ordinal));
        var basis = $"GraphQL {summary.Operation} {names}" + (unmatched.Count > 0 ? $" (no hint for {string.Join(", ", unmatched)})" : "");
        return new PermissionMatch(MatchOutcome.Grant, ordered[0].Grant, [], basis, "graphql_hints (inferred)")
        {
            AlsoNeeded = ordered.Skip(1).Select(g => g.Grant).ToArray(),
        };
    }

    private static bool ConstraintsHold(PermissionEntry e, GitHubRequest r)
    {
        foreach (var (name, glob) in e.Query)
        {
            if (!r.Query.TryGetValue(name, out var value) || !Glob(glob, value))
            {
                return false;
            }
        }

        foreach (var (name, expected) in e.BodyJson)
        {
            if (!r.BodyFields.TryGetValue(name, out var value) || !string.Equals(value, expected, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private static int Compare(PermissionEntry a, PermissionEntry b)
    {
        var c = a.Path.LiteralCount.CompareTo(b.Path.LiteralCount);
        if (c != 0)
        {
            return c;
        }

        c = a.HasConstraints.CompareTo(b.HasConstraints);
        if (c != 0)
        {
            return c;
        }

        c = (!a.HostIsWildcard).CompareTo(!b.HostIsWildcard);
        if (c != 0)
        {
            return c;
        }

        c = (a.Method != "*").CompareTo(b.Method != "*");
        return c != 0 ? c : LevelRank(a.Grant?.Level).CompareTo(LevelRank(b.Grant?.Level));
    }

    internal static int LevelRank(string? level) => level switch
    {
        "write" => 2,
        "read" => 1,
        _ => 0,
    };

    /// <summary>'*' matches any run of characters; everything else literally.</summary>
    private static bool Glob(string pattern, string value)
    {
        var parts = pattern.Split('*');
        if (parts.Length == 1)
        {
            return string.Equals(pattern, value, StringComparison.Ordinal);
        }

        if (!value.StartsWith(parts[0], StringComparison.Ordinal))
        {
            return false;
        }

        var pos = parts[0].Length;
        for (var i = 1; i < parts.Length - 1; i++)
        {
            var at = value.IndexOf(parts[i], pos, StringComparison.Ordinal);
            if (at < 0)
            {
                return false;
            }

            pos = at + parts[i].Length;
        }

        return value.Length - pos >= parts[^1].Length && value.EndsWith(parts[^1], StringComparison.Ordinal);
    }
}
