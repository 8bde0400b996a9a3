using System.Net;
using HardenRunner.Netfilter;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Netfilter;

public sealed class RulesetSnapshotTests
{
    // trimmed from real `nft -j -s list table inet harden_runner` output (nftables 1.0.6)
    private const string Listing = """
        {"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
        {"table": {"family": "inet", "name": "harden_runner", "handle": 4}},
        {"counter": {"family": "inet", "name": "guard_loop", "table": "harden_runner", "handle": 9, "packets": 12, "bytes": 900}},
        {"set": {"family": "inet", "name": "static4", "table": "harden_runner", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 10, "flags": ["interval"], "elem": [{"concat": ["192.0.2.7", "udp", 53]}]}},
        {"set": {"family": "inet", "name": "allow4", "table": "harden_runner", "type": ["ipv4_addr", "inet_proto", "inet_service"], "handle": 12, "size": 65536, "flags": ["timeout"],
          "elem": [{"concat": ["5.5.5.5", "tcp", 22]}, {"elem": {"val": {"concat": ["192.0.2.10", "tcp", 22]}, "timeout": 300, "expires": 97}}]}},
        {"chain": {"family": "inet", "table": "harden_runner", "name": "egress", "handle": 5}},
        {"rule": {"family": "inet", "table": "harden_runner", "chain": "egress", "handle": 16, "expr": [{"goto": {"target": "deny"}}]}}
        ]}
        """;

    [Fact]
    public void Parse_DropsHandlesAndCounterValues_AndSplitsOffDynamicElements()
    {
        var s = RulesetSnapshot.Parse(Listing);

        Assert.Equal(6, s.Items.Count);
        Assert.All(s.Items, i => Assert.DoesNotContain("handle", i));
        Assert.DoesNotContain(s.Items, i => i.Contains("packets", StringComparison.Ordinal));
        Assert.Contains(s.Items, i => i.Contains("192.0.2.7", StringComparison.Ordinal)); // static elements are part of the fingerprint
        Assert.DoesNotContain(s.Items, i => i.Contains("192.0.2.10", StringComparison.Ordinal));

        Assert.Equal(2, s.DynamicElements.Count);
        Assert.Equal(new AllowElement(IPAddress.Parse("5.5.5.5"), Transport.Tcp, 22), s.DynamicElements[0].Element);
        Assert.Null(s.DynamicElements[0].Expires);
        Assert.Equal(new AllowElement(IPAddress.Parse("192.0.2.10"), Transport.Tcp, 22), s.DynamicElements[1].Element);
        Assert.Equal(TimeSpan.FromSeconds(97), s.DynamicElements[1].Expires);
    }

    [Fact]
    public void Compare_IgnoresHandlesCountersAndDynamicElements_ButNotRules()
    {
        var baseline = RulesetSnapshot.Parse(Listing);
        var later = RulesetSnapshot.Parse(Listing.Replace("\"handle\": 16", "\"handle\": 99").Replace("\"packets\": 12", "\"packets\": 13").Replace("\"expires\": 97", "\"expires\": 50"));
        Assert.Null(RulesetSnapshot.Compare(baseline, later));

        var changed = RulesetSnapshot.Parse(Listing.Replace("{\"goto\": {\"target\": \"deny\"}}", "{\"accept\": null}"));
        var reason = RulesetSnapshot.Compare(baseline, changed);
        Assert.NotNull(reason);
        Assert.Contains("missing or changed", reason);
        Assert.Contains("added or changed", reason);

        var staticChanged = RulesetSnapshot.Parse(Listing.Replace("\"192.0.2.7\"", "\"0.0.0.0\""));
        Assert.NotNull(RulesetSnapshot.Compare(baseline, staticChanged));
    }

    [Fact]
    public void Parse_RejectsSomethingThatIsNotAListing()
    {
        Assert.Throws<FormatException>(() => RulesetSnapshot.Parse("{\"other\": []}"));
    }
}
