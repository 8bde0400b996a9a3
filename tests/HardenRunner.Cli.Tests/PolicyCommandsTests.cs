using System.Text.Json;

namespace HardenRunner.Cli.Tests;

public sealed class PolicyCommandsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string ValidPolicy = """
        egress-policy: block
        allowed-endpoints:
          - github.com:443
          - "*.githubusercontent.com:443"
          - api.github.com
          - ssh.github.com:22
        allowed-cidrs:
          - 10.20.0.0/16:5432
        rules:
          - host: api.github.com
            allow:
              - { method: GET, path: "/repos/acme/**" }
              - { method: [POST, PATCH], path: "/repos/acme/web/issues/*/comments" }
            deny:
              - { method: "*", path: "/gists/**" }
        """;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var code = Program.Run(args, o, e);
        return (code, o.ToString(), e.ToString());
    }

    [Fact]
    public void Check_ValidFile_ExitsZeroWithSummary()
    {
        var path = Write("ok.yml", ValidPolicy);
        var (code, stdout, stderr) = Run("policy", "check", path);
        Assert.Equal(0, code);
        Assert.Contains("valid: block mode, 4 endpoint(s)", stdout);
        Assert.Equal("", stderr);
    }

    [Fact]
    public void Check_InvalidFile_ExitsTwoAndNamesFileLineColumnOfEveryProblem()
    {
        var path = Write("bad.yml", "egress-policy: blok\nallowed-endpoints:\n  - \"*\"\n  - github.com:0\nalowed-cidrs: []\n");
        var (code, _, stderr) = Run("policy", "check", path);
        Assert.Equal(2, code);
        Assert.Contains($"{path}:1:16: error: egress-policy must be 'audit' or 'block'", stderr);
        Assert.Contains($"{path}:3:5: error: a bare '*'", stderr);
        Assert.Contains($"{path}:4:5: error:", stderr);
        Assert.Contains($"{path}:5:1: error: unknown key 'alowed-cidrs' (did you mean 'allowed-cidrs'?)", stderr);
    }

    [Fact]
    public void Check_YamlSyntaxError_IsADiagnosticNotAStackTrace()
    {
        var path = Write("syntax.yml", "allowed-endpoints: [\n");
        var (code, _, stderr) = Run("policy", "check", path);
        Assert.Equal(2, code);
        Assert.Contains("YAML syntax", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Check_MissingFile_ExitsTwo()
    {
        var (code, _, stderr) = Run("policy", "check", Path.Combine(_dir, "nope.yml"));
        Assert.Equal(2, code);
        Assert.Contains("cannot read the policy file", stderr);
    }

    [Theory]
    [InlineData("https://api.github.com/repos/acme/web", "GET", "allow", "rules[api.github.com] allow GET /repos/acme/**")]
    [InlineData("https://api.github.com/repos/acme/../../gists", "GET", "deny", "rules[api.github.com] deny * /gists/**")]
    [InlineData("https://api.github.com/repos/acme/%2e%2e/%2e%2e/gists/1", "GET", "deny", "rules[api.github.com] deny * /gists/**")]
    [InlineData("https://api.github.com/repos/acme%2Fweb", "GET", "deny", "path cannot be normalised")]
    [InlineData("https://api.github.com/gists", "POST", "deny", "rules[api.github.com] deny * /gists/**")]
    [InlineData("https://api.github.com/repos/acme/web/issues/3/comments", "post", "allow", "rules[api.github.com] allow POST,PATCH /repos/acme/web/issues/*/comments")]
    [InlineData("https://api.github.com/repos/other/web", "GET", "deny", "rules[api.github.com]: no allow entry matches")]
    [InlineData("https://github.com/acme/web.git/info/refs", "GET", "allow", "allowed-endpoints: github.com:443")]
    [InlineData("https://evil.example/", "GET", "deny", "not in allowed-endpoints")]
    [InlineData("http://github.com/", "GET", "deny", "not in allowed-endpoints")]
    [InlineData("tcp://ssh.github.com:22", "GET", "allow", "allowed-endpoints: ssh.github.com:22")]
    [InlineData("udp://ssh.github.com:22", "GET", "deny", "not in allowed-endpoints")]
    [InlineData("tcp://10.20.3.4:5432", "GET", "allow", "allowed-cidrs: 10.20.0.0/16:5432")]
    [InlineData("tcp://10.21.3.4:5432", "GET", "deny", "address not in allowed-endpoints or allowed-cidrs")]
    public void Explain_Json_PrintsDecisionAndRule(string url, string method, string decision, string rule)
    {
        var path = Write("p.yml", ValidPolicy);
        var (code, stdout, stderr) = Run("policy", "explain", path, "--url", url, "--method", method, "--format", "json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(decision, json.RootElement.GetProperty("decision").GetString());
        Assert.Equal(rule, json.RootElement.GetProperty("rule").GetString());
    }

    [Fact]
    public void Explain_Text_AuditModeSaysItWouldPass()
    {
        var path = Write("audit.yml", "egress-policy: audit\nallowed-endpoints: [github.com]\n");
        var (code, stdout, _) = Run("policy", "explain", path, "--url", "https://evil.example/x");
        Assert.Equal(0, code);
        Assert.StartsWith("deny: not in allowed-endpoints", stdout);
        Assert.Contains("audit mode", stdout);
    }

    [Theory]
    [InlineData("ftp://x/")]
    [InlineData("github.com")]
    [InlineData("tcp://host")]
    [InlineData("https://host:99999/")]
    public void Explain_BadUrl_ExitsTwo(string url)
    {
        var path = Write("p.yml", ValidPolicy);
        var (code, _, stderr) = Run("policy", "explain", path, "--url", url);
        Assert.Equal(2, code);
        Assert.StartsWith("error:", stderr);
    }

    [Fact]
    public void Explain_MissingUrl_IsBadUsage()
    {
        var path = Write("p.yml", ValidPolicy);
        var (code, _, stderr) = Run("policy", "explain", path);
        Assert.Equal(2, code);
        Assert.Contains("--url", stderr);
    }

    [Fact]
    public void UnknownCommand_IsBadUsage()
    {
        var (code, _, _) = Run("frobnicate");
        Assert.Equal(2, code);
    }

    [Fact]
    public void Import_BlockScalarText_RoundTripsThroughCheck()
    {
        // what a workflow's `allowed-endpoints: >` block looks like once pasted
        const string input = """
            allowed-endpoints: >
              api.github.com:443
              github.com:443 objects.githubusercontent.com:443
              *.blob.core.windows.net:443
              registry.npmjs.org
            """;
        var output = Path.Combine(_dir, "imported.yml");
        var (code, _, stderr) = Run("policy", "import", "--allowed-endpoints", input, "-o", output);
        Assert.True(code == 0, stderr);
        var text = File.ReadAllText(output);
        Assert.Contains("egress-policy: block", text);
        Assert.Contains("\"*.blob.core.windows.net:443\"", text);
        Assert.Contains("\"registry.npmjs.org:443\"", text);

        var check = Run("policy", "check", output);
        Assert.True(check.Code == 0, check.Err);
        Assert.Contains("5 endpoint(s)", check.Out);
    }

    [Fact]
    public void Import_InvalidEntry_ExitsTwoAndSaysWhich()
    {
        var (code, stdout, stderr) = Run("policy", "import", "--allowed-endpoints", "github.com:443 bad:port:x https://x.com/");
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("is a URL", stderr);
    }
}
