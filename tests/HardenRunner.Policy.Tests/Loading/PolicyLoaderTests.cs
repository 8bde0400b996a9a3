using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Tests.Loading;

public sealed class PolicyLoaderTests
{
    private const string File = ".harden/policy.yml";

    private static readonly InMemoryPresets NoPresets = new(new Dictionary<string, string>());

    /// <summary>Every kind of problem a user can make, with the exact place the diagnostic must point at.</summary>
    public static TheoryData<string, int, int, string> Problems => new()
    {
        // unknown keys, with a suggestion when one is close
        { "egress-polcy: block\n", 1, 1, "unknown key 'egress-polcy' (did you mean 'egress-policy'?)" },
        { "allowed-endpoints: [github.com]\nfrobnicate: 1\n", 2, 1, "unknown key 'frobnicate' (expected one of: egress-policy," },
        { "allowed-endpoint:\n  - github.com\n", 1, 1, "did you mean 'allowed-endpoints'?" },
        // wrong types
        { "egress-policy: [block]\n", 1, 16, "'egress-policy' must be a single value" },
        { "egress-policy: enforce\n", 1, 16, "egress-policy must be 'audit' or 'block', not 'enforce'" },
        { "disable-sudo: yes\n", 1, 15, "'disable-sudo' must be true or false, not 'yes'" },
        { "file-monitoring: [true]\n", 1, 18, "'file-monitoring' must be a single value" },
        { "disable-sudo-and-containers: 1\n", 1, 30, "must be true or false, not '1'" },
        { "allowed-endpoints:\n  github.com: 443\n", 2, 3, "'allowed-endpoints' must be a list" },
        { "allowed-endpoints:\n  - [github.com, api.github.com]\n", 2, 5, "each entry of 'allowed-endpoints' must be a single value" },
        { "allowed-cidrs: {a: 1}\n", 1, 16, "'allowed-cidrs' must be a list" },
        { "extends: {a: 1}\n", 1, 10, "'extends' must be a list" },
        { "rules: api.github.com\n", 1, 8, "'rules' must be a list of { host, allow, deny }" },
        { "rules:\n  - api.github.com\n", 2, 5, "each rule is a mapping" },
        { "tls: [pinned.example.com]\n", 1, 6, "'tls' must be a mapping" },
        // bad wildcards
        { "allowed-endpoints:\n  - \"a*b.*.com\"\n", 2, 5, "more than one '*'" },
        { "allowed-endpoints:\n  - \"*\"\n", 2, 5, "a bare '*' would allow every host" },
        { "allowed-endpoints:\n  - \"*.com:443\"\n", 2, 5, "too broad" },
        { "allowed-endpoints:\n  - github.*\n", 2, 5, "'*' may only stand in the leftmost label" },
        { "allowed-endpoints:\n  - github.com\n  - -bad.example\n", 3, 5, "'-bad.example' is not a valid host name" },
        // bad ports and endpoint shapes
        { "allowed-endpoints:\n  - github.com:0\n", 2, 5, "port '0' must be a number from 1 to 65535" },
        { "allowed-endpoints:\n  - github.com:70000\n", 2, 5, "port '70000' must be a number from 1 to 65535" },
        { "allowed-endpoints:\n  - github.com:ssh\n", 2, 5, "port 'ssh'" },
        { "allowed-endpoints:\n  - https://github.com\n", 2, 5, "is a URL; write the endpoint as host[:port]" },
        { "allowed-endpoints:\n  - github.com/acme\n", 2, 5, "paths belong in 'rules'" },
        // bad CIDRs
        { "allowed-cidrs:\n  - 10.0.0.0/33\n", 2, 5, "'10.0.0.0/33' is not a CIDR" },
        { "allowed-cidrs:\n  - 10.0.0.1/8\n", 2, 5, "has host bits set; did you mean 10.0.0.0/8?" },
        { "allowed-cidrs:\n  - 2001:db8::/32:443\n", 2, 5, "must be in brackets" },
        { "allowed-cidrs:\n  - 10.0.0.0/8:0\n", 2, 5, "port '0'" },
        { "allowed-cidrs:\n  - example.com\n", 2, 5, "dotted quad" },
        // duplicates
        { "allowed-endpoints:\n  - github.com\n  - GitHub.com:443\n", 3, 5, "duplicate entry 'github.com:443' (first at line 2)" },
        { "allowed-cidrs:\n  - 10.0.0.0/8\n  - 10.0.0.0/8\n", 3, 5, "duplicate entry '10.0.0.0/8' (first at line 2)" },
        { "allowed-endpoints: [a.example]\ntls:\n  passthrough: [a.example, A.example.]\n", 3, 28, "duplicate entry 'a.example'" },
        { "extends: [base, base]\n", 1, 17, "preset 'base' is listed twice" },
        {
            "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow: [{ path: /x }]\n  - host: A.example\n    deny: [{ path: /y }]\n",
            5, 5, "duplicate rules for host 'a.example' (first at line 3); merge them into one entry"
        },
        {
            "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - { method: get, path: /x }\n      - { method: GET, path: /x/ }\n",
            6, 9, "duplicate 'allow' entry GET /x"
        },
        { "egress-policy: block\negress-policy: audit\n", 2, 1, "Duplicate key egress-policy" },
        // rules for hosts that are not allowed
        {
            "allowed-endpoints: [github.com]\nrules:\n  - host: api.github.com\n    allow:\n      - { method: GET, path: /x }\n",
            3, 5, "rules for 'api.github.com', but that host is not in allowed-endpoints"
        },
        {
            "allowed-endpoints: [github.com]\nrules:\n  - host: \"*.github.com\"\n    allow:\n      - { path: /x }\n",
            3, 5, "rules for '*.github.com', but that host is not in allowed-endpoints"
        },
        { "allowed-endpoints: [github.com]\ntls:\n  passthrough:\n    - pinned.example.com\n", 4, 7, "tls.passthrough host 'pinned.example.com' is not in allowed-endpoints" },
        // rules that could never be enforced because the host is spliced
        {
            "allowed-endpoints: [\"*.example.com\"]\nrules:\n  - host: api.example.com\n    allow:\n      - { path: /x }\ntls:\n  passthrough: [api.example.com]\n",
            3, 5, "rules for 'api.example.com' cannot be enforced: 'api.example.com' is in tls.passthrough"
        },
        {
            "allowed-endpoints: [\"*.example.com\"]\nrules:\n  - host: \"*.example.com\"\n    allow:\n      - { path: /x }\ntls:\n  passthrough: [pinned.example.com]\n",
            3, 5, "rules for '*.example.com' cannot be enforced: 'pinned.example.com' is in tls.passthrough"
        },
        // the shape of a rule
        { "rules:\n  - allow:\n      - { path: /x }\n", 2, 5, "a rule needs a 'host'" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n", 3, 5, "rule for 'a.example' has neither 'allow' nor 'deny'" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    alow:\n      - { path: /x }\n", 4, 5, "unknown key 'alow' in a rule (expected host, allow, deny)" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: \"*\"\n    allow:\n      - { path: /x }\n", 3, 11, "a bare '*' would allow every host" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: [a.example]\n    allow:\n      - { path: /x }\n", 3, 11, "'host' must be a single value" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow: { path: /x }\n", 4, 12, "'allow' must be a list of { method, path }" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    deny: /x\n", 4, 11, "'deny' must be a list of { method, path }" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - GET /x\n", 5, 9, "each 'allow' entry is a mapping { method, path }" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - method: GET\n", 5, 9, "a 'allow' entry needs a 'path'" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /x\n        verb: GET\n", 6, 9, "unknown key 'verb' in a 'allow' entry (expected method, path)" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /x\n        method: G/ET\n", 6, 17, "'G/ET' is not an HTTP method" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /x\n        method: []\n", 6, 17, "no method given" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: repos/acme\n", 5, 15, "path 'repos/acme' must start with '/'" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /a/b**\n", 5, 15, "'**' must be a whole segment" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /a?b=1\n", 5, 15, "must not contain a query or fragment" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /a/%2F\n", 5, 15, "cannot be normalised" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    allow:\n      - path: /../x\n", 5, 15, "cannot be normalised" },
        { "allowed-endpoints: [a.example]\nrules:\n  - host: a.example\n    deny:\n      - path: [/x]\n", 5, 15, "'path' must be a single value" },
        // tls
        { "tls:\n  passthru: [a.example]\n", 2, 3, "unknown key 'passthru' under 'tls' (expected passthrough)" },
        { "allowed-endpoints: [a.example]\ntls:\n  passthrough: [\"*\"]\n", 3, 17, "a bare '*'" },
        // presets
        { "extends: [nope]\n", 1, 11, "unknown preset 'nope' (known presets: base, cycle-a, cycle-b, with-mode)" },
        // documents
        { "- github.com\n- api.github.com\n", 1, 1, "a policy is a mapping of keys" },
        { "egress-policy: block\n---\negress-policy: audit\n", 3, 1, "a policy file holds one YAML document" },
        { "allowed-endpoints: [github.com\n", 2, 1, "YAML syntax:" },
        { "egress-policy: block\n  allowed-endpoints: [a]\n", 2, 20, "YAML syntax:" },
    };

    private static readonly InMemoryPresets TestPresets = new(new Dictionary<string, string>
    {
        ["base"] = "allowed-endpoints: [base.example]\n",
        ["with-mode"] = "egress-policy: block\nallowed-endpoints: [x.example]\n",
        ["cycle-a"] = "extends: [cycle-b]\n",
        ["cycle-b"] = "allowed-endpoints: [b.example]\nextends: [cycle-a]\n",
    });

    [Theory]
    [MemberData(nameof(Problems))]
    public void Parse_Problem_IsReportedWithFileLineAndColumn(string yaml, int line, int column, string message)
    {
        var result = PolicyLoader.Parse(yaml, File, TestPresets);

        Assert.False(result.Success);
        Assert.Null(result.Policy);
        var diagnostic = Assert.Single(result.Errors, d => d.Message.Contains(message, StringComparison.Ordinal));
        Assert.Equal(new SourceLocation(File, line, column), diagnostic.Location);
        Assert.StartsWith($"{diagnostic.Location.File}:{diagnostic.Location.Line}:{diagnostic.Location.Column}: error: ", diagnostic.ToString(), StringComparison.Ordinal);
    }

    /// <summary>
    /// allowed-endpoints written as one string (the step-security input form): a bad entry is reported at its own line
    /// and column — in block scalars (| and >, with chomping and indentation indicators, a header comment, blank lines,
    /// CRLF), in multi-line plain strings and inside quotes — not at the start of the string.
    /// </summary>
    public static TheoryData<string, int, int, string> ProblemsInOneStringEndpointLists => new()
    {
        { "allowed-endpoints: |\n  github.com:443\n  *\n", 3, 3, "a bare '*' would allow every host" },
        { "allowed-endpoints: >\n  github.com:443\n  api.github.com:0\n", 3, 3, "port '0' must be a number from 1 to 65535" },
        { "allowed-endpoints: |\n  github.com:443 a*b.*.com\n", 2, 18, "more than one '*'" },
        { "allowed-endpoints: |\n  github.com,github.com:ssh\n", 2, 14, "port 'ssh'" },
        { "allowed-endpoints: >+\n  github.com\tgithub.com/acme\n", 2, 14, "paths belong in 'rules'" },
        { "allowed-endpoints: |- # the job's hosts\n    github.com\n\n    -bad.example\n", 4, 5, "'-bad.example' is not a valid host name" },
        { "allowed-endpoints: |2\n    github.com\n  github.com:0\n", 3, 3, "port '0'" },
        { "allowed-endpoints: |\r\n  github.com\r\n  -bad.example\r\n", 3, 3, "'-bad.example' is not a valid host name" },
        { "allowed-endpoints: |\n  github.com\n  api.github.com\n  GitHub.com:443\n", 4, 3, "duplicate entry 'github.com:443' (first at line 2)" },
        {
            "egress-policy: block\nallowed-endpoints: |\n  github.com:443\n  https://api.github.com\n# by CIDR below\nallowed-cidrs: [10.0.0.0/8]\n",
            4, 3, "is a URL; write the endpoint as host[:port]"
        },
        { "allowed-endpoints: >-\n  github.com:443\n\n\n  github.*\negress-policy: block\n", 5, 3, "'*' may only stand in the leftmost label" },
        { "allowed-endpoints: github.com:443\n  github.com:70000\n", 2, 3, "port '70000' must be a number from 1 to 65535" },
        { "allowed-endpoints: github.com:443 *.com:443\n", 1, 35, "too broad" },
        { "allowed-endpoints: \"github.com, github.*\"\n", 1, 33, "'*' may only stand in the leftmost label" },
        { "allowed-endpoints: 'github.com *'\n", 1, 32, "a bare '*'" },
        // the raw text does not map onto the value (an escape): reported at the string's start, never elsewhere
        { "allowed-endpoints: \"github.com\\t*\"\n", 1, 20, "a bare '*'" },
    };

    [Theory]
    [MemberData(nameof(ProblemsInOneStringEndpointLists))]
    public void Parse_ProblemInAnEndpointListWrittenAsOneString_IsReportedAtTheEntry(string yaml, int line, int column, string message)
    {
        var result = PolicyLoader.Parse(yaml, File, NoPresets);

        Assert.False(result.Success);
        var diagnostic = Assert.Single(result.Errors);
        Assert.Contains(message, diagnostic.Message, StringComparison.Ordinal);
        Assert.Equal(new SourceLocation(File, line, column), diagnostic.Location);
    }

    [Fact]
    public void Parse_AllowedEndpointsAsBlockScalar_EachEntryKeepsItsOwnSource()
    {
        var result = PolicyLoader.Parse("allowed-endpoints: |\n  github.com:443\n\n  api.github.com ssh.github.com:22\n", File, NoPresets);

        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        Assert.Equal(
            [("github.com:443", 2, 3), ("api.github.com:443", 4, 3), ("ssh.github.com:22", 4, 18)],
            result.Policy!.AllowedEndpoints.Select(e => (e.Text, e.Source.Line, e.Source.Column)));
    }

    [Fact]
    public void Parse_ProblemInPreset_NamesThePreset()
    {
        var result = PolicyLoader.Parse("extends: [with-mode]\n", File, TestPresets);
        var error = Assert.Single(result.Errors);
        Assert.Equal(new SourceLocation("preset:with-mode", 1, 1), error.Location);
        Assert.Equal("'egress-policy' is not allowed in a preset (only extends, allowed-endpoints, allowed-cidrs, rules, tls)", error.Message);
    }

    [Fact]
    public void Parse_PresetCycle_IsReportedWhereItCloses()
    {
        var result = PolicyLoader.Parse("extends: [cycle-a]\n", File, TestPresets);
        var error = Assert.Single(result.Errors);
        Assert.Equal(new SourceLocation("preset:cycle-b", 2, 11), error.Location);
        Assert.Equal("preset 'cycle-a' extends itself (a cycle)", error.Message);
    }

    [Fact]
    public void Parse_YamlSyntaxError_IsADiagnosticNotAnException()
    {
        var result = PolicyLoader.Parse("allowed-endpoints:\n  - github.com\n  - \"unterminated\n", File, NoPresets);
        var error = Assert.Single(result.Errors);
        Assert.StartsWith("YAML syntax: ", error.Message, StringComparison.Ordinal);
        Assert.Equal(File, error.Location.File);
        Assert.True(error.Location.Line >= 3, error.ToString());
        Assert.True(error.Location.Column >= 1, error.ToString());
    }

    [Fact]
    public void Parse_ReportsEveryProblemNotOnlyTheFirst()
    {
        const string yaml = """
            egress-policy: blok
            allowed-endpoints:
              - "*"
              - github.com:99999
              - github.com
            allowed-cidrs:
              - 10.0.0.0/40
            rules:
              - host: nothere.example
                allow:
                  - { method: GET, path: /x }
            """;
        var result = PolicyLoader.Parse(yaml, File, NoPresets);
        // the coverage check (rules for a host that is not allowed) runs even when the file has other errors
        Assert.Equal(
            new[] { (1, 16), (3, 5), (4, 5), (7, 5), (9, 5) },
            result.Errors.Select(e => (e.Location.Line, e.Location.Column)).Order());
        Assert.Null(result.Policy);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# only a comment\n")]
    [InlineData("---\n")]
    public void Parse_EmptyFile_IsTheDefaultAuditPolicyWithNothingAllowed(string yaml)
    {
        var result = PolicyLoader.Parse(yaml, File, NoPresets);
        Assert.True(result.Success);
        Assert.Equal(EgressMode.Audit, result.Policy!.EgressPolicy);
        Assert.Empty(result.Policy.AllowedEndpoints);
        Assert.Empty(result.Policy.AllowedCidrs);
        Assert.Empty(result.Policy.Rules);
        Assert.True(result.Policy.FileMonitoring);
    }

    [Fact]
    public void Parse_DesignExample_LoadsEveryKey()
    {
        const string yaml = """
            egress-policy: block
            allowed-endpoints:
              - github.com:443
              - "*.githubusercontent.com:443"
              - registry.npmjs.org
              - ssh.github.com:22
              - api.github.com
            allowed-cidrs:
              - 10.20.0.0/16:5432
            rules:
              - host: api.github.com
                allow:
                  - { method: GET, path: "/repos/acme/**" }
                  - { method: [POST, PATCH], path: "/repos/acme/web/issues/*/comments" }
                deny:
                  - { method: "*", path: "/gists/**" }
            tls:
              passthrough: [pinned.githubusercontent.com]
            file-monitoring: false
            disable-sudo: true
            disable-sudo-and-containers: true
            """;
        var result = PolicyLoader.Parse(yaml, File, NoPresets);

        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        var doc = result.Policy!;
        Assert.Equal(EgressMode.Block, doc.EgressPolicy);
        Assert.Equal(
            ["github.com:443", "*.githubusercontent.com:443", "registry.npmjs.org:443", "ssh.github.com:22", "api.github.com:443"],
            doc.AllowedEndpoints.Select(e => e.Text));
        Assert.Equal(new SourceLocation(File, 4, 5), doc.AllowedEndpoints[1].Source);
        Assert.Equal("10.20.0.0/16:5432", Assert.Single(doc.AllowedCidrs).Text);
        var rules = Assert.Single(doc.Rules);
        Assert.Equal("api.github.com", rules.Host.Text);
        Assert.Equal(["GET /repos/acme/**", "POST,PATCH /repos/acme/web/issues/*/comments"], rules.Allow.Select(r => r.Text));
        Assert.Equal(["* /gists/**"], rules.Deny.Select(r => r.Text));
        Assert.Equal(new SourceLocation(File, 11, 5), rules.Source);
        Assert.Equal("pinned.githubusercontent.com", Assert.Single(doc.TlsPassthrough).Text);
        Assert.False(doc.FileMonitoring);
        Assert.True(doc.DisableSudo);
        Assert.True(doc.DisableSudoAndContainers);
        Assert.Equal(File, doc.Source);
    }

    [Theory]
    [InlineData("egress-policy: audit\n", EgressMode.Audit)]
    [InlineData("egress-policy: block\n", EgressMode.Block)]
    [InlineData("egress-policy: BLOCK\n", EgressMode.Block)]
    [InlineData("egress-policy: \"block\"\n", EgressMode.Block)]
    [InlineData("file-monitoring: true\n", EgressMode.Audit)]
    public void Parse_EgressPolicy_DefaultsToAudit(string yaml, EgressMode expected) =>
        Assert.Equal(expected, PolicyLoader.Parse(yaml, File, NoPresets).Policy!.EgressPolicy);

    [Theory]
    [InlineData("allowed-endpoints: github.com:443 api.github.com\n")]
    [InlineData("allowed-endpoints: >\n  github.com:443\n  api.github.com\n")]
    [InlineData("allowed-endpoints: |\n  github.com:443\n  api.github.com:443\n")]
    [InlineData("allowed-endpoints: \"github.com:443,api.github.com\"\n")]
    public void Parse_AllowedEndpointsAsOneString_AcceptsTheHardenRunnerInputForm(string yaml)
    {
        var result = PolicyLoader.Parse(yaml, File, NoPresets);
        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        Assert.Equal(["github.com:443", "api.github.com:443"], result.Policy!.AllowedEndpoints.Select(e => e.Text));
    }

    [Fact]
    public void Parse_Extends_MergesPresetEndpointsCidrsRulesAndPassthrough()
    {
        var presets = new InMemoryPresets(new Dictionary<string, string>
        {
            ["base"] = """
                allowed-endpoints: [api.example.com, pinned.example.com, shared.example.com]
                allowed-cidrs: [10.0.0.0/8]
                rules:
                  - host: api.example.com
                    allow:
                      - { method: GET, path: "/v1/**" }
                tls:
                  passthrough: [pinned.example.com]
                """,
        });
        const string yaml = """
            extends: [base]
            allowed-endpoints:
              - own.example.com
              - shared.example.com
            rules:
              - host: api.example.com
                allow:
                  - { method: POST, path: "/v1/upload" }
                deny:
                  - { method: GET, path: "/v1/admin/**" }
            """;
        var result = PolicyLoader.Parse(yaml, File, presets);

        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        var doc = result.Policy!;
        Assert.Equal(["base"], doc.Extends);
        Assert.Equal(
            ["api.example.com:443", "pinned.example.com:443", "shared.example.com:443", "own.example.com:443"],
            doc.AllowedEndpoints.Select(e => e.Text));
        Assert.Equal("preset:base", doc.AllowedEndpoints[0].Source.File);
        Assert.Equal("10.0.0.0/8", Assert.Single(doc.AllowedCidrs).Text);
        var rules = Assert.Single(doc.Rules);
        Assert.Equal(["GET /v1/**", "POST /v1/upload"], rules.Allow.Select(r => r.Text));
        Assert.Equal(["GET /v1/admin/**"], rules.Deny.Select(r => r.Text));
        Assert.Equal("pinned.example.com", Assert.Single(doc.TlsPassthrough).Text);

        var engine = new PolicyEngine(doc);
        Assert.Equal("rules[api.example.com] allow GET /v1/** (preset base)", engine.DecideHttp("api.example.com", 443, "GET", "/v1/x").Rule);
        Assert.Equal("rules[api.example.com] allow POST /v1/upload", engine.DecideHttp("api.example.com", 443, "POST", "/v1/upload").Rule);
        Assert.Equal(Verdict.Deny("rules[api.example.com] deny GET /v1/admin/**"), engine.DecideHttp("api.example.com", 443, "GET", "/v1/admin/users"));
        Assert.Equal("allowed-endpoints: shared.example.com:443 (preset base)", engine.DecideConnection("shared.example.com", 443, Transport.Tcp).Rule);
    }

    [Fact]
    public void Parse_PresetChainAndDiamond_LoadOnceWithoutFalseCycle()
    {
        var presets = new InMemoryPresets(new Dictionary<string, string>
        {
            ["root"] = "allowed-endpoints: [root.example]\n",
            ["left"] = "extends: [root]\nallowed-endpoints: [left.example]\n",
            ["right"] = "extends: [root]\nallowed-endpoints: [right.example]\n",
        });
        var result = PolicyLoader.Parse("extends: [left, right]\n", File, presets);

        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        Assert.Equal(
            ["root.example:443", "left.example:443", "right.example:443"],
            result.Policy!.AllowedEndpoints.Select(e => e.Text));
    }

    [Fact]
    public void Parse_PresetMayNotSetTheJobsSwitches()
    {
        var presets = new InMemoryPresets(new Dictionary<string, string>
        {
            ["p"] = "disable-sudo: true\nfile-monitoring: false\nallowed-endpoints: [a.example]\nbogus: 1\n",
        });
        var result = PolicyLoader.Parse("extends: [p]\n", File, presets);

        var errors = result.Errors.ToList();
        Assert.Equal(3, errors.Count);
        Assert.Equal(new SourceLocation("preset:p", 1, 1), errors[0].Location);
        Assert.StartsWith("'disable-sudo' is not allowed in a preset", errors[0].Message, StringComparison.Ordinal);
        Assert.Equal(new SourceLocation("preset:p", 2, 1), errors[1].Location);
        Assert.StartsWith("'file-monitoring' is not allowed in a preset", errors[1].Message, StringComparison.Ordinal);
        Assert.Equal(new SourceLocation("preset:p", 4, 1), errors[2].Location);
        Assert.StartsWith("unknown key 'bogus'", errors[2].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownPreset_ListsTheKnownOnes()
    {
        var result = PolicyLoader.Parse("extends: github-action\n", File, EmbeddedPresets.Instance);
        var error = Assert.Single(result.Errors);
        Assert.Equal(new SourceLocation(File, 1, 10), error.Location);
        Assert.Contains("unknown preset 'github-action' (known presets: ", error.Message, StringComparison.Ordinal);
        Assert.Contains("github-actions", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RuleCoveredOnlyByPresetEndpoint_IsValid()
    {
        var result = PolicyLoader.Parse(
            "extends: [github-actions]\nrules:\n  - host: api.github.com\n    allow:\n      - { method: GET, path: /** }\n",
            File,
            EmbeddedPresets.Instance);
        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
    }

    [Fact]
    public void Parse_OwnEntryRepeatingAPresetEntry_IsMergedNotAnError()
    {
        var result = PolicyLoader.Parse("extends: [github-actions]\nallowed-endpoints: [github.com:443]\n", File, EmbeddedPresets.Instance);
        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        Assert.Single(result.Policy!.AllowedEndpoints, e => e.Text == "github.com:443");
    }

    [Fact]
    public void AddEndpoints_MergesTheFlagIntoThePolicy()
    {
        var doc = PolicyLoader.Parse("allowed-endpoints: [github.com]\n", File, NoPresets).Policy!;
        var result = PolicyLoader.AddEndpoints(doc, "github.com:443, ssh.github.com:22\n*.npmjs.org");

        Assert.True(result.Success);
        Assert.Equal(["github.com:443", "ssh.github.com:22", "*.npmjs.org:443"], result.Policy!.AllowedEndpoints.Select(e => e.Text));
    }

    [Fact]
    public void AddEndpoints_BadEntry_IsAnErrorNamingTheFlag()
    {
        var doc = PolicyDocument.Default;
        var result = PolicyLoader.AddEndpoints(doc, "github.com *");

        Assert.False(result.Success);
        Assert.Null(result.Policy);
        var error = Assert.Single(result.Errors);
        Assert.Equal("--allowed-endpoints", error.Location.File);
        Assert.Equal("--allowed-endpoints: error: a bare '*' would allow every host; list the hosts, or use audit mode to find them", error.ToString());
    }

    [Fact]
    public void Default_IsAuditWithNothingAllowed()
    {
        var doc = PolicyDocument.Default;
        Assert.Equal(EgressMode.Audit, doc.EgressPolicy);
        Assert.Empty(doc.AllowedEndpoints);
        var engine = new PolicyEngine(doc);
        Assert.Equal(Decision.Deny, engine.DecideDns("github.com").Decision);
        Assert.Equal(EgressMode.Audit, engine.Mode);
    }
}
