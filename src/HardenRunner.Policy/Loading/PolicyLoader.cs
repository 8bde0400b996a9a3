using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HardenRunner.Policy.Loading;

/// <summary>
/// Loads <c>.harden/policy.yml</c> text into a validated <see cref="PolicyDocument"/>. Pure: the caller reads the
/// file. Every problem is reported with file, line and column; an invalid policy yields no document, never an
/// empty allow-list.
/// </summary>
public static class PolicyLoader
{
    private static readonly string[] TopLevelKeys =
    [
        "egress-policy", "extends", "allowed-endpoints", "allowed-cidrs", "rules", "tls",
        "file-monitoring", "disable-sudo", "disable-sudo-and-containers",
    ];

    private static readonly string[] PresetKeys = ["extends", "allowed-endpoints", "allowed-cidrs", "rules", "tls"];

    public static PolicyLoadResult Parse(string yaml, string sourceName, IPresetSource? presets = null)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var ctx = new Context(presets ?? EmbeddedPresets.Instance);
        var doc = ctx.ParseOne(yaml, sourceName, isPreset: false, new HashSet<string>(StringComparer.Ordinal));
        if (doc is null)
        {
            return new PolicyLoadResult(null, ctx.Diagnostics);
        }

        ctx.CheckCoverage(doc);
        var ok = !ctx.Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);
        return new PolicyLoadResult(ok ? doc : null, ctx.Diagnostics);
    }

    /// <summary>Merges extra endpoints (the <c>--allowed-endpoints</c> flag) into a loaded policy.</summary>
    public static PolicyLoadResult AddEndpoints(PolicyDocument policy, string allowedEndpoints, string sourceName = "--allowed-endpoints")
    {
        ArgumentNullException.ThrowIfNull(policy);
        var diagnostics = new List<PolicyDiagnostic>();
        var added = new List<EndpointSpec>(policy.AllowedEndpoints);
        foreach (var token in SplitEndpointList(allowedEndpoints))
        {
            var loc = new SourceLocation(sourceName, 0, 0);
            if (EndpointParser.TryParseEndpoint(token, loc, out var ep, out var error))
            {
                if (!added.Any(e => e.Text == ep!.Text))
                {
                    added.Add(ep!);
                }
            }
            else
            {
                diagnostics.Add(new PolicyDiagnostic(loc, DiagnosticSeverity.Error, error!));
            }
        }

        return diagnostics.Count > 0
            ? new PolicyLoadResult(null, diagnostics)
            : new PolicyLoadResult(policy with { AllowedEndpoints = added }, diagnostics);
    }

    /// <summary>Splits a step-security style endpoint list: space, comma or newline separated.</summary>
    public static IEnumerable<string> SplitEndpointList(string list) =>
        (list ?? "").Split([' ', '\n', '\r', '\t', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private sealed class Context(IPresetSource presets)
    {
        public List<PolicyDiagnostic> Diagnostics { get; } = [];

        /// <summary>Where each tls.passthrough host was written (own file or preset), for the coverage check's message.</summary>
        private Dictionary<HostPattern, SourceLocation> PassthroughSources { get; } = [];

        public PolicyDocument? ParseOne(string yaml, string source, bool isPreset, HashSet<string> visiting)
        {
            YamlNode? root;
            try
            {
                var stream = new YamlStream();
                stream.Load(new StringReader(yaml));
                if (stream.Documents.Count > 1)
                {
                    Error(source, stream.Documents[1].RootNode.Start, "a policy file holds one YAML document; found more than one ('---')");
                    return null;
                }

                root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
            }
            catch (YamlException ex)
            {
                var message = ex.InnerException is YamlException inner ? inner.Message : ex.Message;
                Diagnostics.Add(new PolicyDiagnostic(new SourceLocation(source, (int)ex.Start.Line, (int)ex.Start.Column), DiagnosticSeverity.Error, "YAML syntax: " + message));
                return null;
            }

            var doc = new PolicyDocument { Source = source };
            if (root is null || (root is YamlScalarNode empty && string.IsNullOrEmpty(empty.Value)))
            {
                return doc;
            }

            if (root is not YamlMappingNode map)
            {
                Error(source, root.Start, "a policy is a mapping of keys (egress-policy, allowed-endpoints, ...)");
                return null;
            }

            var endpoints = new List<EndpointSpec>();
            var cidrs = new List<CidrSpec>();
            var rules = new List<HostRuleSet>();
            var passthrough = new List<HostPattern>();
            var extends = new List<string>();
            var mergedEndpoints = new List<EndpointSpec>();
            var mergedCidrs = new List<CidrSpec>();
            var mergedRules = new List<HostRuleSet>();
            var mergedPassthrough = new List<HostPattern>();

            foreach (var (keyNode, value) in map.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? "";
                var allowed = isPreset ? PresetKeys : TopLevelKeys;
                if (!allowed.Contains(key))
                {
                    var hint = Suggest(key, allowed);
                    var what = isPreset && TopLevelKeys.Contains(key) ? $"'{key}' is not allowed in a preset (only {string.Join(", ", PresetKeys)})" : $"unknown key '{key}'{hint}";
                    Error(source, keyNode.Start, what);
                    continue;
                }

                switch (key)
                {
                    case "egress-policy":
                        if (Scalar(source, value, key) is { } mode)
                        {
                            if (mode.Equals("audit", StringComparison.OrdinalIgnoreCase))
                            {
                                doc = doc with { EgressPolicy = EgressMode.Audit };
                            }
                            else if (mode.Equals("block", StringComparison.OrdinalIgnoreCase))
                            {
                                doc = doc with { EgressPolicy = EgressMode.Block };
                            }
                            else
                            {
                                Error(source, value.Start, $"egress-policy must be 'audit' or 'block', not '{mode}'");
                            }
                        }

                        break;
                    case "extends":
                        foreach (var (name, node) in ScalarList(source, value, key))
                        {
                            if (extends.Contains(name))
                            {
                                Error(source, node.Start, $"preset '{name}' is listed twice");
                                continue;
                            }

                            extends.Add(name);
                            var preset = LoadPreset(source, node, name, visiting);
                            if (preset is not null)
                            {
                                mergedEndpoints.AddRange(preset.AllowedEndpoints);
                                mergedCidrs.AddRange(preset.AllowedCidrs);
                                mergedRules.AddRange(preset.Rules);
                                mergedPassthrough.AddRange(preset.TlsPassthrough);
                            }
                        }

                        break;
                    case "allowed-endpoints":
                        ParseEndpoints(yaml, source, value, endpoints);
                        break;
                    case "allowed-cidrs":
                        foreach (var (text, node) in ScalarList(source, value, key))
                        {
                            var loc = Loc(source, node.Start);
                            if (!EndpointParser.TryParseCidr(text, loc, out var c, out var err))
                            {
                                Error(source, node.Start, err!);
                            }
                            else if (cidrs.FirstOrDefault(x => x.Text == c!.Text) is { } dup)
                            {
                                Error(source, node.Start, $"duplicate entry '{c!.Text}' (first at line {dup.Source.Line})");
                            }
                            else
                            {
                                cidrs.Add(c!);
                            }
                        }

                        break;
                    case "rules":
                        ParseRules(source, value, rules);
                        break;
                    case "tls":
                        ParseTls(source, value, passthrough);
                        break;
                    case "file-monitoring":
                        if (Bool(source, value, key) is { } fm)
                        {
                            doc = doc with { FileMonitoring = fm };
                        }

                        break;
                    case "disable-sudo":
                        if (Bool(source, value, key) is { } ds)
                        {
                            doc = doc with { DisableSudo = ds };
                        }

                        break;
                    case "disable-sudo-and-containers":
                        if (Bool(source, value, key) is { } dsc)
                        {
                            doc = doc with { DisableSudoAndContainers = dsc };
                        }

                        break;
                }
            }

            // a document with errors is still returned so that later checks (coverage of rules) report their
            // problems too; Parse refuses it as a whole.
            return doc with
            {
                Extends = extends,
                AllowedEndpoints = MergeDistinct(mergedEndpoints, endpoints, e => e.Text),
                AllowedCidrs = MergeDistinct(mergedCidrs, cidrs, c => c.Text),
                Rules = MergeRules(mergedRules, rules),
                TlsPassthrough = MergeDistinct(mergedPassthrough, passthrough, p => p.Text),
            };
        }

        /// <summary>Rules and passthrough hosts must name hosts the policy allows, or they would never apply.</summary>
        public void CheckCoverage(PolicyDocument doc)
        {
            foreach (var rs in doc.Rules)
            {
                if (!doc.AllowedEndpoints.Any(e => rs.Host.IsCoveredBy(e.Host)))
                {
                    Diagnostics.Add(new PolicyDiagnostic(rs.Source, DiagnosticSeverity.Error,
                        $"rules for '{rs.Host.Text}', but that host is not in allowed-endpoints (add it, e.g. '{rs.Host.Text}:443')"));
                }
            }

            foreach (var rs in doc.Rules)
            {
                // spliced connections are never decrypted, so layer-7 rules could not be enforced for these names
                if (doc.TlsPassthrough.FirstOrDefault(p => p.IsCoveredBy(rs.Host) || rs.Host.IsCoveredBy(p)) is { } spliced)
                {
                    Diagnostics.Add(new PolicyDiagnostic(rs.Source, DiagnosticSeverity.Error,
                        $"rules for '{rs.Host.Text}' cannot be enforced: '{spliced.Text}' is in tls.passthrough, whose connections are spliced without inspection; remove one of them"));
                }
            }

            foreach (var p in doc.TlsPassthrough)
            {
                if (!doc.AllowedEndpoints.Any(e => p.IsCoveredBy(e.Host)))
                {
                    var where = PassthroughSources.TryGetValue(p, out var loc) ? loc : new SourceLocation(doc.Source, 0, 0);
                    Diagnostics.Add(new PolicyDiagnostic(where, DiagnosticSeverity.Error,
                        $"tls.passthrough host '{p.Text}' is not in allowed-endpoints (add it, e.g. '{p.Text}:443')"));
                }
            }
        }

        private PolicyDocument? LoadPreset(string source, YamlNode node, string name, HashSet<string> visiting)
        {
            if (!presets.TryGet(name, out var yaml))
            {
                var known = presets.Names.Count == 0 ? "none" : string.Join(", ", presets.Names.Order(StringComparer.Ordinal));
                Error(source, node.Start, $"unknown preset '{name}' (known presets: {known})");
                return null;
            }

            if (!visiting.Add(name))
            {
                Error(source, node.Start, $"preset '{name}' extends itself (a cycle)");
                return null;
            }

            var doc = ParseOne(yaml, "preset:" + name, isPreset: true, visiting);
            visiting.Remove(name);
            return doc;
        }

        private void ParseEndpoints(string yaml, string source, YamlNode value, List<EndpointSpec> endpoints)
        {
            IEnumerable<(string Text, SourceLocation Loc)> items;
            if (value is YamlScalarNode scalar)
            {
                // the step-security input form: one string, space or newline separated (block scalars too); each entry
                // at its own line and column, or at the string's start when the raw text does not map onto the value
                items = ScalarTokenLocator.Locate(yaml, scalar)?.Select(t => (t.Text, new SourceLocation(source, t.Line, t.Column)))
                    ?? SplitEndpointList(scalar.Value ?? "").Select(t => (t, Loc(source, scalar.Start)));
            }
            else
            {
                items = ScalarList(source, value, "allowed-endpoints").Select(x => (x.Text, Loc(source, x.Node.Start)));
            }

            foreach (var (text, loc) in items)
            {
                if (!EndpointParser.TryParseEndpoint(text, loc, out var ep, out var err))
                {
                    Diagnostics.Add(new PolicyDiagnostic(loc, DiagnosticSeverity.Error, err!));
                }
                else if (endpoints.FirstOrDefault(x => x.Text == ep!.Text) is { } dup)
                {
                    Diagnostics.Add(new PolicyDiagnostic(loc, DiagnosticSeverity.Error, $"duplicate entry '{ep!.Text}' (first at line {dup.Source.Line})"));
                }
                else
                {
                    endpoints.Add(ep!);
                }
            }
        }

        private void ParseRules(string source, YamlNode value, List<HostRuleSet> rules)
        {
            if (value is not YamlSequenceNode seq)
            {
                Error(source, value.Start, "'rules' must be a list of { host, allow, deny }");
                return;
            }

            foreach (var item in seq.Children)
            {
                if (item is not YamlMappingNode m)
                {
                    Error(source, item.Start, "each rule is a mapping with 'host', 'allow' and/or 'deny'");
                    continue;
                }

                HostPattern? host = null;
                var allow = new List<HttpRule>();
                var deny = new List<HttpRule>();
                var hasHost = false;
                foreach (var (k, v) in m.Children)
                {
                    var key = (k as YamlScalarNode)?.Value ?? "";
                    switch (key)
                    {
                        case "host":
                            hasHost = true;
                            if (Scalar(source, v, "host") is { } h)
                            {
                                if (!HostPattern.TryParse(h, out host, out var err))
                                {
                                    Error(source, v.Start, err!);
                                }
                            }

                            break;
                        case "allow":
                            ParseHttpRules(source, v, allow, "allow");
                            break;
                        case "deny":
                            ParseHttpRules(source, v, deny, "deny");
                            break;
                        default:
                            Error(source, k.Start, $"unknown key '{key}' in a rule (expected host, allow, deny)");
                            break;
                    }
                }

                if (!hasHost)
                {
                    Error(source, item.Start, "a rule needs a 'host'");
                    continue;
                }

                if (host is null)
                {
                    continue;
                }

                if (allow.Count == 0 && deny.Count == 0)
                {
                    Error(source, item.Start, $"rule for '{host.Text}' has neither 'allow' nor 'deny'");
                    continue;
                }

                if (rules.FirstOrDefault(r => r.Host.Equals(host)) is { } dup)
                {
                    Error(source, item.Start, $"duplicate rules for host '{host.Text}' (first at line {dup.Source.Line}); merge them into one entry");
                    continue;
                }

                rules.Add(new HostRuleSet(host, allow, deny, Loc(source, item.Start)));
            }
        }

        private void ParseHttpRules(string source, YamlNode value, List<HttpRule> into, string what)
        {
            if (value is not YamlSequenceNode seq)
            {
                Error(source, value.Start, $"'{what}' must be a list of {{ method, path }}");
                return;
            }

            foreach (var item in seq.Children)
            {
                if (item is not YamlMappingNode m)
                {
                    Error(source, item.Start, $"each '{what}' entry is a mapping {{ method, path }}");
                    continue;
                }

                var methods = MethodSet.Any;
                PathPattern? path = null;
                var ok = true;
                foreach (var (k, v) in m.Children)
                {
                    var key = (k as YamlScalarNode)?.Value ?? "";
                    if (key == "method")
                    {
                        var list = ScalarList(source, v, "method").ToList();
                        if (!MethodSet.TryCreate(list.Select(x => x.Text), out var set, out var err))
                        {
                            Error(source, v.Start, err!);
                            ok = false;
                        }
                        else
                        {
                            methods = set!;
                        }
                    }
                    else if (key == "path")
                    {
                        if (Scalar(source, v, "path") is { } p)
                        {
                            if (!PathPattern.TryParse(p, out path, out var err))
                            {
                                Error(source, v.Start, err!);
                                ok = false;
                            }
                        }
                        else
                        {
                            ok = false;
                        }
                    }
                    else
                    {
                        Error(source, k.Start, $"unknown key '{key}' in a '{what}' entry (expected method, path)");
                        ok = false;
                    }
                }

                if (path is null && ok)
                {
                    Error(source, item.Start, $"a '{what}' entry needs a 'path' (use \"/**\" for every path)");
                    continue;
                }

                if (ok && path is not null)
                {
                    if (into.Any(r => r.Text == $"{methods.Text} {path.Text}"))
                    {
                        Error(source, item.Start, $"duplicate '{what}' entry {methods.Text} {path.Text}");
                        continue;
                    }

                    into.Add(new HttpRule(methods, path, Loc(source, item.Start)));
                }
            }
        }

        private void ParseTls(string source, YamlNode value, List<HostPattern> passthrough)
        {
            if (value is not YamlMappingNode m)
            {
                Error(source, value.Start, "'tls' must be a mapping (tls: { passthrough: [...] })");
                return;
            }

            foreach (var (k, v) in m.Children)
            {
                var key = (k as YamlScalarNode)?.Value ?? "";
                if (key != "passthrough")
                {
                    Error(source, k.Start, $"unknown key '{key}' under 'tls' (expected passthrough)");
                    continue;
                }

                foreach (var (text, node) in ScalarList(source, v, "tls.passthrough"))
                {
                    if (!HostPattern.TryParse(text, out var p, out var err))
                    {
                        Error(source, node.Start, err!);
                    }
                    else if (passthrough.Contains(p!))
                    {
                        Error(source, node.Start, $"duplicate entry '{p!.Text}'");
                    }
                    else
                    {
                        passthrough.Add(p!);
                        PassthroughSources.TryAdd(p!, Loc(source, node.Start));
                    }
                }
            }
        }

        private string? Scalar(string source, YamlNode node, string key)
        {
            if (node is YamlScalarNode s && s.Value is not null)
            {
                return s.Value;
            }

            Error(source, node.Start, $"'{key}' must be a single value");
            return null;
        }

        private bool? Bool(string source, YamlNode node, string key)
        {
            var s = Scalar(source, node, key);
            if (s is null)
            {
                return null;
            }

            if (s.Equals("true", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (s.Equals("false", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            Error(source, node.Start, $"'{key}' must be true or false, not '{s}'");
            return null;
        }

        private List<(string Text, YamlNode Node)> ScalarList(string source, YamlNode node, string key)
        {
            var result = new List<(string, YamlNode)>();
            if (node is YamlScalarNode s)
            {
                if (!string.IsNullOrEmpty(s.Value))
                {
                    result.Add((s.Value, s));
                }

                return result;
            }

            if (node is not YamlSequenceNode seq)
            {
                Error(source, node.Start, $"'{key}' must be a list");
                return result;
            }

            foreach (var child in seq.Children)
            {
                if (child is YamlScalarNode cs && !string.IsNullOrWhiteSpace(cs.Value))
                {
                    result.Add((cs.Value!, cs));
                }
                else
                {
                    Error(source, child.Start, $"each entry of '{key}' must be a single value");
                }
            }

            return result;
        }

        private void Error(string source, Mark mark, string message) =>
            Diagnostics.Add(new PolicyDiagnostic(Loc(source, mark), DiagnosticSeverity.Error, message));

        private static SourceLocation Loc(string source, Mark mark) => new(source, (int)mark.Line, (int)mark.Column);

        private static string Suggest(string key, string[] known)
        {
            var best = known.MinBy(k => Distance(k, key));
            return best is not null && Distance(best, key) <= 3 ? $" (did you mean '{best}'?)" : $" (expected one of: {string.Join(", ", known)})";
        }

        private static int Distance(string a, string b)
        {
            var d = new int[a.Length + 1, b.Length + 1];
            for (var i = 0; i <= a.Length; i++)
            {
                d[i, 0] = i;
            }

            for (var j = 0; j <= b.Length; j++)
            {
                d[0, j] = j;
            }

            for (var i = 1; i <= a.Length; i++)
            {
                for (var j = 1; j <= b.Length; j++)
                {
                    d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
                }
            }

            return d[a.Length, b.Length];
        }

        private static List<T> MergeDistinct<T>(List<T> first, List<T> second, Func<T, string> key)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var result = new List<T>();
            foreach (var x in first.Concat(second))
            {
                if (seen.Add(key(x)))
                {
                    result.Add(x);
                }
            }

            return result;
        }

        private static List<HostRuleSet> MergeRules(List<HostRuleSet> fromPresets, List<HostRuleSet> own)
        {
            var result = new List<HostRuleSet>();
            foreach (var rs in fromPresets.Concat(own))
            {
                var i = result.FindIndex(r => r.Host.Equals(rs.Host));
                if (i < 0)
                {
                    result.Add(rs);
                }
                else
                {
                    var old = result[i];
                    result[i] = old with { Allow = [.. old.Allow, .. rs.Allow], Deny = [.. old.Deny, .. rs.Deny] };
                }
            }

            return result;
        }
    }
}
