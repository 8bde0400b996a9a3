using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HardenRunner.Insights.Permissions;

/// <summary>What a table entry says about a call.</summary>
public enum EntryKind
{
    /// <summary>Needs a GITHUB_TOKEN scope at a level (<c>rules</c>).</summary>
    Grant,

    /// <summary>Needs an App permission that GITHUB_TOKEN can never have (<c>not_grantable</c>).</summary>
    NotGrantable,

    /// <summary>Needs no GITHUB_TOKEN permission (<c>no_permission</c>).</summary>
    NoPermission,

    /// <summary>Decided at run time (<c>dynamic_rules</c>: cross-repository, GraphQL).</summary>
    Dynamic,
}

/// <summary>A GITHUB_TOKEN <c>permissions:</c> key and level (read or write; id-token only write).</summary>
public sealed record ScopeLevel(string Scope, string Level)
{
    public override string ToString() => $"{Scope}: {Level}";
}

/// <summary>One entry of the data file: which calls it matches and what they need.</summary>
public sealed record PermissionEntry(
    EntryKind Kind,
    string Method,
    string Host,
    PathTemplate Path,
    IReadOnlyDictionary<string, string> Query,
    IReadOnlyDictionary<string, string> BodyJson,
    ScopeLevel? Grant,
    IReadOnlyList<ScopeLevel> Alternatives,
    string? AppPermission,
    string? Resolution,
    string Source,
    string? Note)
{
    public bool HostIsWildcard => Host.StartsWith("*.", StringComparison.Ordinal);

    public bool HasConstraints => Query.Count > 0 || BodyJson.Count > 0;

    /// <summary>The call as the data file writes it, e.g. <c>GET api.github.com/repos/{owner}/{repo}/contents/{path+}</c>.</summary>
    public string Describe() => $"{Method} {Host}{Path.Text}";

    public bool MatchesHost(string host) =>
        HostIsWildcard
            ? host.Length > Host.Length - 1 && host.EndsWith(Host[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(host, Host, StringComparison.OrdinalIgnoreCase);

    public bool MatchesMethod(string method) => Method == "*" || string.Equals(Method, method, StringComparison.OrdinalIgnoreCase);
}

/// <summary>A GraphQL heuristic (<c>graphql_hints</c>): selected fields (queries) or mutation names and what they need.</summary>
public sealed record GraphQlHint(string Kind, IReadOnlyList<string> Names, ScopeLevel? Grant, string Source, string? Note);

/// <summary>
/// The GITHUB_TOKEN permission data (an embedded copy of <c>github-token-permissions.yml</c>, header kept): which
/// (method, host, path) needs which <c>permissions:</c> key and level, which calls can never be granted, which need
/// nothing, and GraphQL hints. Loaded once; immutable. See docs/insights.md for how it is applied.
/// </summary>
public sealed class PermissionTable
{
    public const string ResourceName = "github-token-permissions.yml";

    private static readonly Lazy<PermissionTable> s_default = new(LoadEmbedded);

    private PermissionTable(
        IReadOnlyDictionary<string, IReadOnlyList<string>> scopes,
        IReadOnlyList<PermissionEntry> entries,
        IReadOnlyList<GraphQlHint> graphQlHints,
        string asOf)
    {
        Scopes = scopes;
        Entries = entries;
        GraphQlHints = graphQlHints;
        AsOf = asOf;
        Hosts = entries.Select(e => e.Host).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
    }

    /// <summary>The embedded table.</summary>
    public static PermissionTable Default => s_default.Value;

    /// <summary>Valid <c>permissions:</c> keys and their levels (plus <c>metadata</c>, which is never emitted).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Scopes { get; }

    public IReadOnlyList<PermissionEntry> Entries { get; }

    public IReadOnlyList<GraphQlHint> GraphQlHints { get; }

    public string AsOf { get; }

    /// <summary>Every host (or <c>*.suffix</c>) the table names.</summary>
    public IReadOnlyList<string> Hosts { get; }

    /// <summary>Whether the table has anything to say about calls to <paramref name="host"/>.</summary>
    public bool Covers(string host) =>
        Hosts.Any(h => h.StartsWith("*.", StringComparison.Ordinal)
            ? host.Length > h.Length - 1 && host.EndsWith(h[1..], StringComparison.OrdinalIgnoreCase)
            : string.Equals(host, h, StringComparison.OrdinalIgnoreCase));

    /// <summary>The embedded data file's text.</summary>
    public static string EmbeddedText()
    {
        using var stream = typeof(PermissionTable).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"the embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static PermissionTable LoadEmbedded() => Parse(EmbeddedText());

    /// <summary>Parses a data file. Throws <see cref="FormatException"/> naming the problem (and its line) for bad data.</summary>
    public static PermissionTable Parse(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new FormatException($"the permission data is not valid YAML: {ex.Message}", ex);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new FormatException("the permission data must be one YAML mapping");
        }

        var scopes = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (k, v) in Map(root, "scopes"))
        {
            scopes[Scalar(k)] = v is YamlSequenceNode seq ? seq.Children.Select(Scalar).ToArray() : throw Bad(v, "a scope's levels must be a list");
        }

        var entries = new List<PermissionEntry>();
        AddEntries(entries, root, "rules", EntryKind.Grant, scopes);
        AddEntries(entries, root, "not_grantable", EntryKind.NotGrantable, scopes);
        AddEntries(entries, root, "no_permission", EntryKind.NoPermission, scopes);
        AddEntries(entries, root, "dynamic_rules", EntryKind.Dynamic, scopes);

        var hints = new List<GraphQlHint>();
        foreach (var node in Seq(root, "graphql_hints"))
        {
            var m = node as YamlMappingNode ?? throw Bad(node, "a GraphQL hint must be a mapping");
            var kind = Req(m, "kind");
            if (kind is not ("query" or "mutation"))
            {
                throw Bad(m, $"GraphQL hint kind '{kind}' is neither query nor mutation");
            }

            var names = Child(m, "names") as YamlSequenceNode ?? throw Bad(m, "a GraphQL hint needs a names list");
            var scope = Opt(m, "scope");
            var level = Opt(m, "level");
            hints.Add(new GraphQlHint(kind, names.Children.Select(Scalar).ToArray(), scope is null || level is null ? null : CheckScope(new ScopeLevel(scope, level), scopes, m), Opt(m, "src") ?? "", Opt(m, "note")));
        }

        return new PermissionTable(scopes, entries, hints, Opt(root, "as_of") ?? "");
    }

    private static void AddEntries(List<PermissionEntry> entries, YamlMappingNode root, string section, EntryKind kind, Dictionary<string, IReadOnlyList<string>> scopes)
    {
        foreach (var node in Seq(root, section))
        {
            var m = node as YamlMappingNode ?? throw Bad(node, $"an entry of {section} must be a mapping");
            var method = Req(m, "method").ToUpperInvariant();
            var host = Req(m, "host").ToLowerInvariant();
            PathTemplate path;
            try
            {
                path = PathTemplate.Parse(Req(m, "path"));
            }
            catch (FormatException ex)
            {
                throw Bad(m, ex.Message);
            }

            ScopeLevel? grant = null;
            var alternatives = new List<ScopeLevel>();
            if (kind == EntryKind.Grant)
            {
                grant = CheckScope(new ScopeLevel(Req(m, "scope"), Req(m, "level")), scopes, m);
                if (Child(m, "alternatives") is YamlSequenceNode alts)
                {
                    foreach (var a in alts.Children.OfType<YamlMappingNode>())
                    {
                        alternatives.Add(CheckScope(new ScopeLevel(Req(a, "scope"), Req(a, "level")), scopes, a));
                    }
                }
            }

            entries.Add(new PermissionEntry(
                kind, method, host, path, StringMap(m, "query"), StringMap(m, "body_json"), grant, alternatives,
                Opt(m, "app_permission"), Opt(m, "resolution"), Opt(m, "src") ?? "", Opt(m, "note")));
        }
    }

    private static ScopeLevel CheckScope(ScopeLevel s, Dictionary<string, IReadOnlyList<string>> scopes, YamlNode at) =>
        scopes.TryGetValue(s.Scope, out var levels) && levels.Contains(s.Level)
            ? s
            : throw Bad(at, $"'{s.Scope}: {s.Level}' is not a scope and level listed under scopes");

    private static Dictionary<string, string> StringMap(YamlMappingNode m, string key)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (Child(m, key) is YamlMappingNode map)
        {
            foreach (var (k, v) in map.Children)
            {
                result[Scalar(k)] = Scalar(v);
            }
        }

        return result;
    }

    private static IEnumerable<KeyValuePair<YamlNode, YamlNode>> Map(YamlMappingNode m, string key) =>
        Child(m, key) is YamlMappingNode map ? map.Children : [];

    private static IEnumerable<YamlNode> Seq(YamlMappingNode m, string key) =>
        Child(m, key) is YamlSequenceNode seq ? seq.Children : [];

    private static YamlNode? Child(YamlMappingNode m, string key) =>
        m.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    private static string Req(YamlMappingNode m, string key) => Opt(m, key) ?? throw Bad(m, $"'{key}' is missing");

    private static string? Opt(YamlMappingNode m, string key) =>
        Child(m, key) is YamlScalarNode { Value: { } v } s && !(s.Style == ScalarStyle.Plain && v is "null" or "~" or "") ? v : null;

    private static string Scalar(YamlNode n) => n is YamlScalarNode { Value: { } v } ? v : throw Bad(n, "expected a scalar");

    private static FormatException Bad(YamlNode at, string message) =>
        new(string.Create(CultureInfo.InvariantCulture, $"permission data line {at.Start.Line}, column {at.Start.Column}: {message}"));
}
