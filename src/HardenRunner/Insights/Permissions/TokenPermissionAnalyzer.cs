using System.Globalization;
using System.Text;
using HardenRunner.Events;
using HardenRunner.Reporting;

namespace HardenRunner.Insights.Permissions;

/// <summary>Why a scope is in the recommendation: one kind of call, how often, from which steps, decided how.</summary>
public sealed record PermissionEvidence(string Scope, string Level, string Call, string Basis, string Source, int Count, IReadOnlyList<string> Steps, IReadOnlyList<int> Statuses);

/// <summary>A call that adds nothing to <c>permissions:</c> but must be reported (not grantable, other repository, unknown).</summary>
public sealed record PermissionFinding(MatchOutcome Outcome, string Call, string Basis, int Count, IReadOnlyList<string> Steps);

/// <summary>The recommended GITHUB_TOKEN <c>permissions:</c> block and its evidence.</summary>
public sealed class TokenPermissionsResult
{
    internal TokenPermissionsResult(
        IReadOnlyDictionary<string, string> permissions,
        IReadOnlyList<PermissionEvidence> evidence,
        IReadOnlyList<PermissionFinding> findings,
        int tokenCalls,
        int runs)
    {
        Permissions = permissions;
        Evidence = evidence;
        Findings = findings;
        TokenCalls = tokenCalls;
        Runs = runs;
    }

    /// <summary>Scope → read|write, alphabetical; empty means <c>permissions: {}</c>.</summary>
    public IReadOnlyDictionary<string, string> Permissions { get; }

    /// <summary>Per scope, the calls that need it (the deciding one first).</summary>
    public IReadOnlyList<PermissionEvidence> Evidence { get; }

    public IReadOnlyList<PermissionFinding> Findings { get; }

    /// <summary>Requests that carried an installation token.</summary>
    public int TokenCalls { get; }

    public int Runs { get; }

    /// <summary>The block as YAML, each line with its evidence in a comment. Secrets never appear (redacted again).</summary>
    public string ToYaml()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"# GITHUB_TOKEN permissions this job needs, from {TokenCalls} call(s) that carried an installation (ghs_) token in {Runs} run(s).\n");
        if (Permissions.Count == 0)
        {
            sb.Append(TokenCalls == 0
                ? "# No call carried the job's token: it needs no permission.\n"
                : "# No call needed a permission that can be granted.\n");
            sb.Append("permissions: {}\n");
        }
        else
        {
            sb.Append("permissions:\n");
            foreach (var (scope, level) in Permissions)
            {
                var lines = Evidence.Where(e => e.Scope == scope).ToList();
                var head = lines.FirstOrDefault(e => e.Level == level) ?? lines.FirstOrDefault();
                sb.Append("  ").Append(scope).Append(": ").Append(level);
                if (head is not null)
                {
                    sb.Append("  # ").Append(Describe(head));
                }

                sb.Append('\n');
                foreach (var more in lines.Where(e => e != head).Take(5))
                {
                    sb.Append("  #   also ").Append(more.Level).Append(": ").Append(Describe(more)).Append('\n');
                }
            }
        }

        foreach (var group in Findings.GroupBy(f => f.Outcome))
        {
            sb.Append("# ").Append(group.Key switch
            {
                MatchOutcome.NotGrantable => "Calls GITHUB_TOKEN can never be allowed (they need a GitHub App or PAT token):",
                MatchOutcome.CrossRepository => "Calls into other repositories (GITHUB_TOKEN cannot reach them whatever permissions: says):",
                _ => "Calls the permission data does not know (review by hand):",
            }).Append('\n');
            foreach (var f in group.Take(20))
            {
                sb.Append("#   ").Append(Comment(f.Call)).Append(" — ").Append(Comment(f.Basis))
                    .Append(CultureInfo.InvariantCulture, $" ({f.Count} call(s){Steps(f.Steps)})\n");
            }
        }

        return sb.ToString();
    }

    private static string Describe(PermissionEvidence e)
    {
        var status = e.Statuses.Count == 0 ? "" : ", HTTP " + string.Join("/", e.Statuses);
        return Comment($"{e.Call} ({e.Basis}; {e.Count} call(s){status}{Steps(e.Steps)})");
    }

    private static string Steps(IReadOnlyList<string> steps) => steps.Count == 0 ? "" : "; step " + string.Join(", ", steps);

    private static string Comment(string s) => SecretRedactor.Redact(s).ReplaceLineEndings(" ");
}

/// <summary>
/// Builds the minimal GITHUB_TOKEN <c>permissions:</c> block from network events (one run or several of the same job):
/// only requests that carried an installation token (<see cref="GitHubCall.InstallationToken"/>) and reached GitHub
/// count; each is mapped with <see cref="PermissionMapper"/>; per scope the highest level wins; a call that several
/// scopes authorise (alternatives) is given the one another call already needs, else its primary scope; metadata is
/// dropped; not-grantable, cross-repository and unknown calls are reported, never turned into permissions. Pure.
/// </summary>
public sealed class TokenPermissionAnalyzer(PermissionMapper mapper, string? ownRepository)
{
    private const int MaxKinds = 2_000;

    private readonly Dictionary<string, Acc> _calls = new(StringComparer.Ordinal);
    private readonly HashSet<string> _runs = new(StringComparer.Ordinal);
    private int _tokenCalls;

    public TokenPermissionAnalyzer(string? ownRepository)
        : this(PermissionMapper.Default, ownRepository)
    {
    }

    /// <summary>Adds one event of run <paramref name="runId"/>; events without an installation token are ignored.</summary>
    public void Add(string runId, NetworkEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        _runs.Add(runId);
        if (e.GitHub is not { Token: GitHubCall.InstallationToken } call || e.Host is null || e.Method is null
            || e.Action != NetworkEvent.Passed)
        {
            return;
        }

        _tokenCalls++;
        var request = GitHubRequest.Create(e.Method, e.Host, e.Path ?? "/");
        var match = mapper.Map(request, ownRepository, call.AcceptedPermissions, call.GraphQl);
        var callText = call.GraphQl is { Operation: not GraphQlSummary.Unknown } g
            ? $"{request.Method} {request.Host}{request.Path} ({g.Operation} {string.Join(", ", g.Fields.Where(f => !f.Contains('.', StringComparison.Ordinal)).Take(4))})"
            : $"{request.Method} {request.Host}{request.Path}";
        var key = callText + "\n" + match.Basis;
        if (!_calls.TryGetValue(key, out var acc))
        {
            if (_calls.Count >= MaxKinds)
            {
                return;
            }

            acc = new Acc(callText, match);
            _calls[key] = acc;
        }

        acc.Count++;
        if (e.Step?.Action is { Length: > 0 } step && acc.Steps.Count < 8)
        {
            acc.Steps.Add(step);
        }

        if (call.Status is { } status && acc.Statuses.Count < 4)
        {
            acc.Statuses.Add(status);
        }
    }

    public TokenPermissionsResult Build()
    {
        var granted = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var evidence = new List<PermissionEvidence>();
        var findings = new List<PermissionFinding>();
        var grants = _calls.Values.Where(a => a.Match.Outcome == MatchOutcome.Grant).ToList();

        // unambiguous needs first, so that alternatives can join a scope that is needed anyway
        foreach (var a in grants.OrderBy(a => a.Match.Alternatives.Count))
        {
            var m = a.Match;
            var chosen = m.Grant!;
            if (m.Alternatives.Count > 0 && !granted.ContainsKey(chosen.Scope))
            {
                chosen = m.Alternatives.FirstOrDefault(alt => granted.ContainsKey(alt.Scope)) ?? chosen;
            }

            foreach (var g in m.AlsoNeeded.Prepend(chosen))
            {
                Raise(granted, g);
                evidence.Add(new PermissionEvidence(g.Scope, g.Level, a.Call, m.Basis, m.Source, a.Count, [.. a.Steps], [.. a.Statuses]));
            }
        }

        foreach (var a in _calls.Values.Where(a => a.Match.Outcome is MatchOutcome.NotGrantable or MatchOutcome.CrossRepository or MatchOutcome.Unknown))
        {
            findings.Add(new PermissionFinding(a.Match.Outcome, a.Call, a.Match.Basis, a.Count, [.. a.Steps]));
        }

        // per scope: the highest level first, then the strongest basis (GitHub's header, the documented table, inferred hints)
        evidence.Sort((x, y) => string.CompareOrdinal(x.Scope, y.Scope) is var c && c != 0
            ? c
            : PermissionMapper.LevelRank(y.Level).CompareTo(PermissionMapper.LevelRank(x.Level)) is var d && d != 0
                ? d
                : SourceRank(x.Source).CompareTo(SourceRank(y.Source)) is var e && e != 0 ? e : y.Count.CompareTo(x.Count));
        findings.Sort((x, y) => x.Outcome.CompareTo(y.Outcome) is var c && c != 0 ? c : string.CompareOrdinal(x.Call, y.Call));
        return new TokenPermissionsResult(granted, evidence, findings, _tokenCalls, _runs.Count);
    }

    private static int SourceRank(string source) => source switch
    {
        "header" => 0,
        "docs" or "docs-newer" or "docs-token" or "docs-other" or "protocol" => 1,
        _ => 2,
    };

    private static void Raise(SortedDictionary<string, string> granted, ScopeLevel g)
    {
        if (!granted.TryGetValue(g.Scope, out var current) || PermissionMapper.LevelRank(g.Level) > PermissionMapper.LevelRank(current))
        {
            granted[g.Scope] = g.Level;
        }
    }

    private sealed class Acc(string call, PermissionMatch match)
    {
        public string Call { get; } = call;

        public PermissionMatch Match { get; } = match;

        public int Count { get; set; }

        public SortedSet<string> Steps { get; } = new(StringComparer.Ordinal);

        public SortedSet<int> Statuses { get; } = [];
    }
}
