using System.Net;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Tests;

public sealed class PolicyEngineTests
{
    private const string Yaml = """
        egress-policy: block
        allowed-endpoints:
          - github.com:443
          - "*.githubusercontent.com:443"
          - registry.npmjs.org
          - ssh.github.com:22
          - "*.github.com:9418"
          - api.github.com
          - dns.example:53/udp
          - "*.svc.example.com"
          - "productionresultssa*.blob.core.windows.net"
          - 192.0.2.10:8080
          - "[2001:db8::10]:443"
          - bücher.example
          - "*.wild.example"
          - exact.wild.example
          - "*.x.wild.example"
        allowed-cidrs:
          - 10.20.0.0/16:5432
          - 10.30.0.0/16
          - 10.40.0.0/16:53/udp
          - "[2001:db8:100::/48]:443"
          - 2001:db8:200::/48
          - 198.51.100.7:9000
        rules:
          - host: api.github.com
            allow:
              - { method: GET, path: "/repos/acme/**" }
              - { method: [POST, PATCH], path: "/repos/acme/web/issues/*/comments" }
              - { method: PUT, path: "/repos/acme/*/contents/docs/*.md" }
              - { method: GET, path: "/gists/public" }
            deny:
              - { method: "*", path: "/gists/**" }
              - { method: DELETE, path: "/repos/acme/**" }
              - { method: GET, path: "/repos/acme/secret/**" }
          - host: "*.wild.example"
            allow: [{ method: GET, path: "/wild/**" }]
          - host: exact.wild.example
            allow: [{ method: GET, path: "/exact/**" }]
          - host: "*.x.wild.example"
            allow: [{ method: GET, path: "/x/**" }]
          - host: 192.0.2.10
            allow: [{ method: GET, path: "/metrics" }]
          - host: "[2001:db8::10]"
            allow: [{ method: GET, path: "/v6/**" }]
          - host: "productionresultssa*.blob.core.windows.net"
            allow: [{ method: [GET, PUT], path: "/actions-results/**" }]
          - host: bücher.example
            allow: [{ method: GET, path: "/only" }]
        tls:
          passthrough: [pinned.githubusercontent.com]
        """;

    private const string NotAllowed = PolicyEngine.RuleNotAllowed;
    private const string AddressNotAllowed = PolicyEngine.RuleAddressNotAllowed;
    private const string BadPath = PolicyEngine.RuleBadPath;
    private const string Api = "rules[api.github.com]";

    private static readonly PolicyEngine Engine = Build(Yaml);

    public static TheoryData<string, bool, string> Dns => new()
    {
        { "github.com", true, "allowed-endpoints: github.com:443" },
        { "GitHub.COM", true, "allowed-endpoints: github.com:443" },
        { "github.com.", true, "allowed-endpoints: github.com:443" },
        { "GITHUB.COM.", true, "allowed-endpoints: github.com:443" },
        { "ssh.github.com", true, "allowed-endpoints: ssh.github.com:22" },
        { "dns.example", true, "allowed-endpoints: dns.example:53/udp" },
        { "raw.githubusercontent.com", true, "allowed-endpoints: *.githubusercontent.com:443" },
        { "a.b.c.githubusercontent.com", true, "allowed-endpoints: *.githubusercontent.com:443" },
        { "githubusercontent.com", false, NotAllowed },
        { "evilgithubusercontent.com", false, NotAllowed },
        { "githubusercontent.com.evil.example", false, NotAllowed },
        { "x.github.com", true, "allowed-endpoints: *.github.com:9418" },
        { "a.svc.example.com", true, "allowed-endpoints: *.svc.example.com:443" },
        { "a.b.svc.example.com", true, "allowed-endpoints: *.svc.example.com:443" },
        { "svc.example.com", false, NotAllowed },
        { "example.com", false, NotAllowed },
        { "productionresultssa3.blob.core.windows.net", true, "allowed-endpoints: productionresultssa*.blob.core.windows.net:443" },
        { "attacker.blob.core.windows.net", false, NotAllowed },
        { "x.productionresultssa3.blob.core.windows.net", false, NotAllowed },
        { "xn--bcher-kva.example", true, "allowed-endpoints: xn--bcher-kva.example:443" },
        { "bücher.example", true, "allowed-endpoints: xn--bcher-kva.example:443" },
        { "BÜCHER.example.", true, "allowed-endpoints: xn--bcher-kva.example:443" },
        { "bucher.example", false, NotAllowed },
        { "exfil.test", false, NotAllowed },
        { "c2VjcmV0.exfil.test", false, NotAllowed },
        { "", false, PolicyEngine.RuleBadHost },
        { ".", false, PolicyEngine.RuleBadHost },
        { "b\u00fccher..example", false, PolicyEngine.RuleBadHost },
    };

    public static TheoryData<string, int, Transport, bool, string> Connections => new()
    {
        // port defaults to 443; other ports only where listed
        { "registry.npmjs.org", 443, Transport.Tcp, true, "allowed-endpoints: registry.npmjs.org:443" },
        { "registry.npmjs.org", 80, Transport.Tcp, false, NotAllowed },
        { "registry.npmjs.org", 8443, Transport.Tcp, false, NotAllowed },
        { "ssh.github.com", 22, Transport.Tcp, true, "allowed-endpoints: ssh.github.com:22" },
        { "ssh.github.com", 443, Transport.Tcp, false, NotAllowed },
        // exact and wildcard grants add up for a name: *.github.com:9418 also covers ssh.github.com
        { "ssh.github.com", 9418, Transport.Tcp, true, "allowed-endpoints: *.github.com:9418" },
        { "github.com", 9418, Transport.Tcp, false, NotAllowed },
        // TCP only unless written /udp
        { "ssh.github.com", 22, Transport.Udp, false, NotAllowed },
        { "registry.npmjs.org", 443, Transport.Udp, false, NotAllowed },
        { "dns.example", 53, Transport.Udp, true, "allowed-endpoints: dns.example:53/udp" },
        { "dns.example", 53, Transport.Tcp, false, NotAllowed },
        { "DNS.Example.", 53, Transport.Udp, true, "allowed-endpoints: dns.example:53/udp" },
        // IPv4 and IPv6 literals in allowed-endpoints
        { "192.0.2.10", 8080, Transport.Tcp, true, "allowed-endpoints: 192.0.2.10:8080" },
        { "192.0.2.10", 80, Transport.Tcp, false, AddressNotAllowed },
        { "192.0.2.11", 8080, Transport.Tcp, false, AddressNotAllowed },
        { "::ffff:192.0.2.10", 8080, Transport.Tcp, true, "allowed-endpoints: 192.0.2.10:8080" },
        { "2001:db8::10", 443, Transport.Tcp, true, "allowed-endpoints: [2001:db8::10]:443" },
        { "[2001:db8::10]", 443, Transport.Tcp, true, "allowed-endpoints: [2001:db8::10]:443" },
        { "2001:DB8:0:0:0:0:0:10", 443, Transport.Tcp, true, "allowed-endpoints: [2001:db8::10]:443" },
        { "2001:db8::10", 80, Transport.Tcp, false, AddressNotAllowed },
        { "2001:db8::11", 443, Transport.Tcp, false, AddressNotAllowed },
        // CIDRs, IPv4
        { "10.20.5.5", 5432, Transport.Tcp, true, "allowed-cidrs: 10.20.0.0/16:5432" },
        { "10.20.255.255", 5432, Transport.Tcp, true, "allowed-cidrs: 10.20.0.0/16:5432" },
        { "10.20.5.5", 5433, Transport.Tcp, false, AddressNotAllowed },
        { "10.21.0.1", 5432, Transport.Tcp, false, AddressNotAllowed },
        { "10.30.9.9", 1, Transport.Tcp, true, "allowed-cidrs: 10.30.0.0/16" },
        { "10.30.9.9", 65535, Transport.Tcp, true, "allowed-cidrs: 10.30.0.0/16" },
        { "10.30.9.9", 53, Transport.Udp, false, AddressNotAllowed },
        { "10.40.1.1", 53, Transport.Udp, true, "allowed-cidrs: 10.40.0.0/16:53/udp" },
        { "10.40.1.1", 53, Transport.Tcp, false, AddressNotAllowed },
        { "198.51.100.7", 9000, Transport.Tcp, true, "allowed-cidrs: 198.51.100.7/32:9000" },
        { "198.51.100.8", 9000, Transport.Tcp, false, AddressNotAllowed },
        { "::ffff:10.20.1.1", 5432, Transport.Tcp, true, "allowed-cidrs: 10.20.0.0/16:5432" },
        // CIDRs, IPv6
        { "2001:db8:100::1", 443, Transport.Tcp, true, "allowed-cidrs: [2001:db8:100::/48]:443" },
        { "2001:db8:100:ffff:ffff:ffff:ffff:ffff", 443, Transport.Tcp, true, "allowed-cidrs: [2001:db8:100::/48]:443" },
        { "2001:db8:100::1", 80, Transport.Tcp, false, AddressNotAllowed },
        { "2001:db8:101::1", 443, Transport.Tcp, false, AddressNotAllowed },
        { "2001:db8:200:1::1", 22, Transport.Tcp, true, "allowed-cidrs: 2001:db8:200::/48" },
        { "2001:db8:200:1::1", 22, Transport.Udp, false, AddressNotAllowed },
        // an IPv4 network never matches an IPv6 address and vice versa
        { "::a14:505", 5432, Transport.Tcp, false, AddressNotAllowed },
        { "127.0.0.1", 443, Transport.Tcp, false, AddressNotAllowed },
        { "::1", 443, Transport.Tcp, false, AddressNotAllowed },
        // names that look like addresses are names
        { "192.0.2.10.nip.io", 8080, Transport.Tcp, false, NotAllowed },
        { "1.2.3", 443, Transport.Tcp, false, NotAllowed },
        // host:port is not a host
        { "api.github.com:443", 443, Transport.Tcp, false, NotAllowed },
    };

    public static TheoryData<string, int, string, string, bool, string> Http => new()
    {
        // hosts without rules: host and port decide
        { "github.com", 443, "POST", "/acme/web.git/git-receive-pack", true, "allowed-endpoints: github.com:443" },
        { "github.com", 80, "GET", "/", false, NotAllowed },
        { "evil.example", 443, "GET", "/", false, NotAllowed },
        { "raw.githubusercontent.com", 443, "GET", "/acme/web/main/x", true, "allowed-endpoints: *.githubusercontent.com:443" },
        // the rules of api.github.com: allow entries
        { "api.github.com", 443, "GET", "/repos/acme/web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme/web/", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme/web?per_page=100", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme/web?x=/../../gists", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme/web#/../../gists", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "POST", "/repos/acme/web/issues/12/comments", true, $"{Api} allow POST,PATCH /repos/acme/web/issues/*/comments" },
        { "api.github.com", 443, "PATCH", "/repos/acme/web/issues/12/comments", true, $"{Api} allow POST,PATCH /repos/acme/web/issues/*/comments" },
        { "api.github.com", 443, "PUT", "/repos/acme/site/contents/docs/intro.md", true, $"{Api} allow PUT /repos/acme/*/contents/docs/*.md" },
        { "api.github.com", 443, "PUT", "/repos/acme/site/contents/docs/intro.sh", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "PUT", "/repos/acme/site/contents/docs/sub/intro.md", false, $"{Api}: no allow entry matches" },
        // no allow entry: other orgs, other methods, '*' is exactly one segment
        { "api.github.com", 443, "GET", "/repos/other/web", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "GET", "/repos/acmecorp/web", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "GET", "/user", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "POST", "/repos/acme/web/issues", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "POST", "/repos/acme/web/issues/12/13/comments", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "POST", "/repos/acme/web/issues//comments", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "POST", "/repos/other/web/issues/12/comments", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "PUT", "/repos/acme/web/issues/12/comments", false, $"{Api}: no allow entry matches" },
        // deny wins over allow
        { "api.github.com", 443, "GET", "/repos/acme/secret", false, $"{Api} deny GET /repos/acme/secret/**" },
        { "api.github.com", 443, "GET", "/repos/acme/secret/keys", false, $"{Api} deny GET /repos/acme/secret/**" },
        { "api.github.com", 443, "GET", "/gists/public", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "DELETE", "/repos/acme/web", false, $"{Api} deny DELETE /repos/acme/**" },
        { "api.github.com", 443, "POST", "/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "PATCH", "/gists/abc123", false, $"{Api} deny * /gists/**" },
        // traversal and encoding tricks
        { "api.github.com", 443, "POST", "/repos/acme/../../gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "GET", "/repos/acme/../other/web", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "GET", "/repos/acme/web/../../other/web", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "POST", "/repos/acme/%2e%2e/%2e%2e/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "/repos/acme/%2E%2E/%2E%2E/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "/repos/acme/.%2e/.%2e/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "/%67ists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "//gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "/./gists/./", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "/GISTS", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "POST", "/Gists/abc", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "GET", "/Repos/ACME/Secret/x", false, $"{Api} deny GET /repos/acme/secret/**" },
        { "api.github.com", 443, "GET", "/repos/acme/%73ecret", false, $"{Api} deny GET /repos/acme/secret/**" },
        { "api.github.com", 443, "GET", "/repos//acme//web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme/./web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/REPOS/Acme/web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "GET", "/repos/acme%2F..%2F..%2Fgists", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%2Fx", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%2fx", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/..%2F..%2Fgists", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/%252e%252e/%252e%252e/gists", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web\\..\\..\\gists", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%5C..%5C..%5Cgists", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/..;/..;/gists", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/../../..", false, BadPath },
        { "api.github.com", 443, "GET", "/..", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%00", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%0d%0aX: y", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/caf\u00e9", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%", false, BadPath },
        { "api.github.com", 443, "GET", "/repos/acme/web%zz", false, BadPath },
        { "api.github.com", 443, "GET", "", false, BadPath },
        { "api.github.com", 443, "GET", "repos/acme/web", false, BadPath },
        { "api.github.com", 443, "GET", "https://api.github.com/repos/acme/web", false, BadPath },
        { "api.github.com", 443, "OPTIONS", "*", false, BadPath },
        // mixed-case methods; HEAD is covered by GET (allow and deny alike)
        { "api.github.com", 443, "get", "/repos/acme/web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "Get", "/repos/acme/web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "post", "/repos/acme/web/issues/1/comments", true, $"{Api} allow POST,PATCH /repos/acme/web/issues/*/comments" },
        { "api.github.com", 443, "pOsT", "/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 443, "delete", "/repos/acme/web", false, $"{Api} deny DELETE /repos/acme/**" },
        { "api.github.com", 443, "HEAD", "/repos/acme/web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "head", "/repos/acme/web", true, $"{Api} allow GET /repos/acme/**" },
        { "api.github.com", 443, "HEAD", "/repos/acme/secret/x", false, $"{Api} deny GET /repos/acme/secret/**" },
        { "api.github.com", 443, "HEAD", "/repos/other/web", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "OPTIONS", "/repos/acme/web", false, $"{Api}: no allow entry matches" },
        { "api.github.com", 443, "G ET", "/repos/acme/web", false, PolicyEngine.RuleBadMethod },
        { "api.github.com", 443, "", "/repos/acme/web", false, PolicyEngine.RuleBadMethod },
        { "api.github.com", 443, "GET\r\n", "/repos/acme/web", false, PolicyEngine.RuleBadMethod },
        // host spelling: case, trailing dot, port
        { "API.GitHub.com", 443, "POST", "/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com.", 443, "POST", "/gists", false, $"{Api} deny * /gists/**" },
        { "api.github.com", 80, "GET", "/repos/acme/web", false, NotAllowed },
        // the most specific rule set applies: exact > longest *.suffix
        { "exact.wild.example", 443, "GET", "/exact/1", true, "rules[exact.wild.example] allow GET /exact/**" },
        { "exact.wild.example", 443, "GET", "/wild/1", false, "rules[exact.wild.example]: no allow entry matches" },
        { "a.wild.example", 443, "GET", "/wild/1", true, "rules[*.wild.example] allow GET /wild/**" },
        { "a.b.c.wild.example", 443, "GET", "/wild/1", true, "rules[*.wild.example] allow GET /wild/**" },
        { "a.wild.example", 443, "GET", "/x/1", false, "rules[*.wild.example]: no allow entry matches" },
        { "a.x.wild.example", 443, "GET", "/x/1", true, "rules[*.x.wild.example] allow GET /x/**" },
        { "a.x.wild.example", 443, "GET", "/wild/1", false, "rules[*.x.wild.example]: no allow entry matches" },
        // x.wild.example is the apex of *.x.wild.example, so the *.wild.example rules apply to it
        { "x.wild.example", 443, "GET", "/wild/1", true, "rules[*.wild.example] allow GET /wild/**" },
        { "x.wild.example", 443, "GET", "/x/1", false, "rules[*.wild.example]: no allow entry matches" },
        // the apex of a wildcard is not allowed at all
        { "wild.example", 443, "GET", "/wild/1", false, NotAllowed },
        // label globs
        { "productionresultssa7.blob.core.windows.net", 443, "PUT", "/actions-results/abc/log.txt", true, "rules[productionresultssa*.blob.core.windows.net] allow GET,PUT /actions-results/**" },
        { "productionresultssa7.blob.core.windows.net", 443, "PUT", "/other-container/x", false, "rules[productionresultssa*.blob.core.windows.net]: no allow entry matches" },
        { "attacker.blob.core.windows.net", 443, "PUT", "/actions-results/x", false, NotAllowed },
        // address hosts and their rules
        { "192.0.2.10", 8080, "GET", "/metrics", true, "rules[192.0.2.10] allow GET /metrics" },
        { "192.0.2.10", 8080, "POST", "/metrics", false, "rules[192.0.2.10]: no allow entry matches" },
        { "[2001:db8::10]", 443, "GET", "/v6/a", true, "rules[[2001:db8::10]] allow GET /v6/**" },
        { "2001:db8::10", 443, "GET", "/other", false, "rules[[2001:db8::10]]: no allow entry matches" },
        { "10.30.1.1", 443, "POST", "/anything", true, "allowed-cidrs: 10.30.0.0/16" },
        { "2001:db8:100::5", 443, "GET", "/", true, "allowed-cidrs: [2001:db8:100::/48]:443" },
        // IDN: rules written for bücher.example apply to every spelling of it
        { "xn--bcher-kva.example", 443, "GET", "/only", true, "rules[xn--bcher-kva.example] allow GET /only" },
        { "bücher.example", 443, "GET", "/only", true, "rules[xn--bcher-kva.example] allow GET /only" },
        { "xn--bcher-kva.example", 443, "POST", "/only", false, "rules[xn--bcher-kva.example]: no allow entry matches" },
        { "bücher.example", 443, "POST", "/only", false, "rules[xn--bcher-kva.example]: no allow entry matches" },
        { "BÜCHER.EXAMPLE", 443, "POST", "/only", false, "rules[xn--bcher-kva.example]: no allow entry matches" },
        // a non-ASCII spelling that IDNA maps onto an allowed name still meets that name's rules
        { "api\u3002github.com", 443, "POST", "/gists", false, $"{Api} deny * /gists/**" },
        { "api.github\u3002com", 443, "GET", "/repos/other/x", false, $"{Api}: no allow entry matches" },
    };

    [Theory]
    [MemberData(nameof(Dns))]
    public void DecideDns_AnswersForEveryAllowedName(string name, bool allowed, string rule) =>
        Assert.Equal(new Verdict(allowed ? Decision.Allow : Decision.Deny, rule), Engine.DecideDns(name));

    [Theory]
    [MemberData(nameof(Connections))]
    public void DecideConnection_ChecksHostPortAndTransport(string host, int port, Transport transport, bool allowed, string rule) =>
        Assert.Equal(new Verdict(allowed ? Decision.Allow : Decision.Deny, rule), Engine.DecideConnection(host, port, transport));

    [Theory]
    [MemberData(nameof(Http))]
    public void DecideHttp_AppliesRulesAfterNormalisation(string host, int port, string method, string path, bool allowed, string rule) =>
        Assert.Equal(new Verdict(allowed ? Decision.Allow : Decision.Deny, rule), Engine.DecideHttp(host, port, method, path));

    [Theory]
    [InlineData("192.0.2.10", 8080, Transport.Tcp, true)]
    [InlineData("::ffff:192.0.2.10", 8080, Transport.Tcp, true)]
    [InlineData("fe80::1%2", 443, Transport.Tcp, false)]
    [InlineData("10.40.0.1", 53, Transport.Udp, true)]
    [InlineData("2001:db8:200::1", 5000, Transport.Tcp, true)]
    public void DecideAddress_AcceptsParsedAddresses(string address, int port, Transport transport, bool allowed) =>
        Assert.Equal(allowed, Engine.DecideAddress(IPAddress.Parse(address), port, transport).IsAllowed);

    [Fact]
    public void DecideAddress_ScopedIPv6Literal_MatchesItsEndpoint()
    {
        var engine = Build("allowed-endpoints: [\"[fe80::1]:8080\"]\n");
        Assert.True(engine.DecideAddress(IPAddress.Parse("fe80::1%3"), 8080, Transport.Tcp).IsAllowed);
    }

    [Theory]
    [InlineData("https://api.github.com/repos/acme/web", "GET", true)]
    [InlineData("https://api.github.com/gists", "POST", false)]
    [InlineData("https://api.github.com:8443/repos/acme/web", "GET", false)]
    [InlineData("http://api.github.com/repos/acme/web", "GET", false)]
    [InlineData("https://[2001:db8::10]/v6/x", "GET", true)]
    [InlineData("https://xn--bcher-kva.example/only", "GET", true)]
    [InlineData("https://bücher.example/only", "HEAD", true)]
    [InlineData("https://api.github.com/repos/acme/web%2Fx", "GET", false)]
    public void DecideHttp_Url_UsesSchemeDefaultPorts(string url, string method, bool allowed) =>
        Assert.Equal(allowed, Engine.DecideHttp(new Uri(url), method).IsAllowed);

    [Theory]
    [InlineData("github.com", "443/Tcp")]
    [InlineData("ssh.github.com", "22/Tcp 9418/Tcp")]
    [InlineData("api.github.com", "443/Tcp 9418/Tcp")]
    [InlineData("dns.example", "53/Udp")]
    [InlineData("SSH.GitHub.com.", "22/Tcp 9418/Tcp")]
    [InlineData("bücher.example", "443/Tcp")]
    [InlineData("productionresultssa1.blob.core.windows.net", "443/Tcp")]
    [InlineData("githubusercontent.com", "")]
    [InlineData("exfil.test", "")]
    [InlineData("not a name", "")]
    public void GetGrants_ListsEveryPortOfEveryMatchingPattern(string name, string expected) =>
        Assert.Equal(expected, string.Join(' ', Engine.GetGrants(name).Select(g => $"{g.Port}/{g.Transport}").Order(StringComparer.Ordinal)));

    [Theory]
    [InlineData("pinned.githubusercontent.com", true)]
    [InlineData("PINNED.githubusercontent.com.", true)]
    [InlineData("other.githubusercontent.com", false)]
    [InlineData("a.pinned.githubusercontent.com", false)]
    [InlineData("", false)]
    public void IsPassthrough_MatchesTlsPassthroughHosts(string host, bool expected) =>
        Assert.Equal(expected, Engine.IsPassthrough(host));

    [Theory]
    [InlineData("api.github.com", true)]
    [InlineData("API.GITHUB.COM.", true)]
    [InlineData("api\u3002github.com", true)]
    [InlineData("github.com", false)]
    [InlineData("y.wild.example", true)]
    [InlineData("wild.example", false)]
    [InlineData("192.0.2.10", true)]
    [InlineData("bücher.example", true)]
    [InlineData("", false)]
    public void HasRules_TellsTheProxyWhichHostsNeedInspection(string host, bool expected) =>
        Assert.Equal(expected, Engine.HasRules(host));

    [Fact]
    public void Decisions_NameThePresetAnEntryCameFrom()
    {
        var engine = Build("extends: [github-actions]\nallowed-endpoints: [registry.npmjs.org]\n");
        Assert.Equal("allowed-endpoints: codeload.github.com:443 (preset github-actions)", engine.DecideDns("codeload.github.com").Rule);
        Assert.Equal("allowed-endpoints: registry.npmjs.org:443", engine.DecideHttp("registry.npmjs.org", 443, "GET", "/left-pad").Rule);
        Assert.Equal("deny", engine.DecideDns("exfil.test").DecisionText);
        Assert.Equal("allow", engine.DecideDns("github.com").DecisionText);
    }

    [Fact]
    public void DecideHttp_WithoutAnyRules_DoesNotInspectThePath()
    {
        // a host without rules allows every path: the path is only normalised where rules need it
        var engine = Build("allowed-endpoints: [a.example]\n");
        Assert.True(engine.DecideHttp("a.example", 443, "GET", "/%2F..%2F").IsAllowed);
        Assert.False(engine.HasRules("a.example"));
    }

    [Fact]
    public void DecideHttp_HotPath_DoesNotAllocate()
    {
        var engine = Engine;
        const string longPath = "/repos/acme/web/contents/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/../q/%72/s//t/./u/v/w/x/y/z?ref=main";

        // warm-up: let the JIT settle (tiered compilation) before measuring
        var sink = 0;
        for (var i = 0; i < 2000; i++)
        {
            sink += Run(engine, longPath);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            sink += Run(engine, longPath);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(12 * 6 * 1_000, sink);

        static int Run(PolicyEngine e, string longPath)
        {
            var n = 0;
            n += e.DecideHttp("api.github.com", 443, "POST", "/repos/acme/web/issues/12/comments").IsAllowed ? 1 : 0;
            n += e.DecideHttp("API.github.com.", 443, "get", longPath).IsAllowed ? 1 : 0;
            n += e.DecideHttp("api.github.com", 443, "POST", "/repos/acme/%2e%2e/%2e%2e/gists").IsAllowed ? 0 : 1;
            n += e.DecideHttp("api.github.com", 443, "GET", "/repos/acme%2F..%2Fgists").IsAllowed ? 0 : 1;
            n += e.DecideHttp("a.x.wild.example", 443, "HEAD", "/x/y").IsAllowed ? 1 : 0;
            n += e.DecideDns("raw.githubusercontent.com").IsAllowed ? 1 : 0;
            return n;
        }
    }

    [Fact]
    public void Engine_IsSafeToShareAcrossThreads()
    {
        var failures = 0;
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                if (!Engine.DecideHttp("api.github.com", 443, "GET", "/repos/acme/web").IsAllowed
                    || Engine.DecideHttp("api.github.com", 443, "POST", "/gists").IsAllowed)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });
        Assert.Equal(0, failures);
    }

    private static PolicyEngine Build(string yaml)
    {
        var result = PolicyLoader.Parse(yaml, "engine-test.yml", EmbeddedPresets.Instance);
        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        return new PolicyEngine(result.Policy!);
    }
}
