using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;

namespace HardenRunner.Netfilter;

/// <summary>
/// Builds the nft script of the appliance's table from <see cref="FirewallOptions"/>. Pure: no I/O, same input →
/// same text. The script replaces the table in one transaction (<c>add</c> + <c>delete</c> + definition), so there is
/// never a moment without the table, and a failure leaves the previous table in place. See docs/firewall.md.
/// </summary>
public static class NftRulesetBuilder
{
    /// <summary>Size bound of each dynamic allow set (elements); an add beyond it fails (and the DNS answer with it).</summary>
    public const int DynamicSetSize = 65536;

    /// <summary>Bytes of each logged packet copied to NFLOG: enough for the IPv6 header, extension headers and ports.</summary>
    public const int LogSnaplen = 128;

    /// <summary>The TCP ports redirected to the proxy (80 to its HTTP listener, 443 to its HTTPS one).</summary>
    public const int HttpPort = 80;

    /// <inheritdoc cref="HttpPort"/>
    public const int HttpsPort = 443;

    private const string Tab = "\t";

    /// <summary>
    /// Whether the table ever consults the allow sets for a flow of this grant: never for TCP to the web ports. The
    /// output filter accepts those flows before the allow sets (and <c>nat_output</c> sends them to the proxy, which
    /// decides them by name itself), a container's are redirected in prerouting, and one that escaped the redirect is
    /// refused by the guard. So an allow for them would only cost an nft transaction that nothing reads.
    /// </summary>
    public static bool ConsultsAllowSets(PortGrant grant) =>
        !(grant.Transport == Transport.Tcp && grant.Port is HttpPort or HttpsPort);

    /// <summary>The whole table, replacing any previous one; optionally followed by dynamic elements to keep.</summary>
    public static string Build(FirewallOptions options, IReadOnlyCollection<AllowElementTimeout>? keep = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var w = new ScriptWriter();
        w.Line($"add table {NftNames.QualifiedTable}");
        w.Line($"delete table {NftNames.QualifiedTable}");
        w.Line($"table {NftNames.QualifiedTable} {{");
        WriteObjects(w, options);
        WriteNat(w, options);
        WriteFilter(w, options);
        w.Line("}");
        if (keep is { Count: > 0 })
        {
            w.Raw(BuildAddElements(keep));
        }

        return w.ToString();
    }

    /// <summary>Deletes the table if it exists (and only this table).</summary>
    public static string BuildRemove() =>
        $"add table {NftNames.QualifiedTable}\ndelete table {NftNames.QualifiedTable}\n";

    /// <summary>Lists the table (use with JSON + stateless output for verification).</summary>
    public static string BuildList() => $"list table {NftNames.QualifiedTable}\n";

    /// <summary>
    /// Adds (or extends) dynamic allow elements. nftables does not update the timeout of an existing element, so each
    /// element is added, deleted and added again with its new timeout, in one transaction: it never disappears, and
    /// the command succeeds whether or not it existed.
    /// </summary>
    public static string BuildAddElements(IEnumerable<AllowElementTimeout> elements)
    {
        ArgumentNullException.ThrowIfNull(elements);
        var v4 = new List<AllowElementTimeout>();
        var v6 = new List<AllowElementTimeout>();
        foreach (var e in elements)
        {
            (e.Element.Address.AddressFamily == AddressFamily.InterNetwork ? v4 : v6).Add(e);
        }

        var sb = new StringBuilder();
        AppendRefresh(sb, NftNames.Allow4, v4);
        AppendRefresh(sb, NftNames.Allow6, v6);
        return sb.ToString();
    }

    /// <summary>The timeout text nft accepts: whole seconds, at least one.</summary>
    public static string FormatTimeout(TimeSpan timeout) =>
        Math.Max(1, (long)Math.Ceiling(timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture) + "s";

    internal static string FormatElement(AllowElement e) =>
        $"{e.Address} . {Proto(e.Transport)} . {e.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Static allows as set elements: contained entries are dropped (nft refuses an element inside another).</summary>
    internal static List<string> StaticElements(IEnumerable<StaticAllow> allows, AddressFamily family)
    {
        var list = allows.Where(a => a.Network.BaseAddress.AddressFamily == family).Distinct().ToList();
        var kept = new List<StaticAllow>();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            var contained = false;
            for (var j = 0; j < list.Count && !contained; j++)
            {
                if (i != j && Contains(list[j], a) && (!Contains(a, list[j]) || j < i))
                {
                    contained = true;
                }
            }

            if (!contained)
            {
                kept.Add(a);
            }
        }

        var full = family == AddressFamily.InterNetwork ? 32 : 128;
        return [.. kept.Select(a =>
        {
            var net = a.Network.PrefixLength == full ? a.Network.BaseAddress.ToString() : a.Network.ToString();
            var port = a.Port is { } p ? p.ToString(CultureInfo.InvariantCulture) : "0-65535";
            return $"{net} . {Proto(a.Transport)} . {port}";
        })];
    }

    private static bool Contains(StaticAllow outer, StaticAllow inner) =>
        outer.Transport == inner.Transport
        && (outer.Port is null || outer.Port == inner.Port)
        && outer.Network.PrefixLength <= inner.Network.PrefixLength
        && outer.Network.Contains(inner.Network.BaseAddress);

    private static void AppendRefresh(StringBuilder sb, string set, List<AllowElementTimeout> elements)
    {
        if (elements.Count == 0)
        {
            return;
        }

        var target = $"element {NftNames.QualifiedTable} {set}";
        sb.Append("add ").Append(target).Append(" { ")
          .AppendJoin(", ", elements.Select(e => FormatElement(e.Element) + " timeout 1s")).Append(" }\n");
        sb.Append("delete ").Append(target).Append(" { ")
          .AppendJoin(", ", elements.Select(e => FormatElement(e.Element))).Append(" }\n");
        sb.Append("add ").Append(target).Append(" { ")
          .AppendJoin(", ", elements.Select(e => FormatElement(e.Element) + " timeout " + FormatTimeout(e.Timeout))).Append(" }\n");
    }

    private static string Proto(Transport t) => t == Transport.Udp ? "udp" : "tcp";

    private static string Mark(FirewallOptions o) => "0x" + o.Mark.ToString("x8", CultureInfo.InvariantCulture);

    private static string Port(int p) => p.ToString(CultureInfo.InvariantCulture);

    private static string Log(FirewallOptions o, string reason, bool blocked) =>
        $"log prefix \"{NflogPrefix.Format(reason, blocked)}\" group {o.NflogGroup.ToString(CultureInfo.InvariantCulture)} snaplen {LogSnaplen.ToString(CultureInfo.InvariantCulture)}";

    private static void WriteObjects(ScriptWriter w, FirewallOptions o)
    {
        w.Line($"{Tab}counter {NftNames.GuardUnredirected} {{ }}");
        w.Line($"{Tab}counter {NftNames.GuardLoop} {{ }}");
        WriteSet(w, NftNames.Static4, "ipv4_addr . inet_proto . inet_service", "flags interval;", StaticElements(o.StaticAllows, AddressFamily.InterNetwork));
        WriteSet(w, NftNames.Static6, "ipv6_addr . inet_proto . inet_service", "flags interval;", StaticElements(o.StaticAllows, AddressFamily.InterNetworkV6));
        var size = $"flags timeout; size {DynamicSetSize.ToString(CultureInfo.InvariantCulture)};";
        WriteSet(w, NftNames.Allow4, "ipv4_addr . inet_proto . inet_service", size, []);
        WriteSet(w, NftNames.Allow6, "ipv6_addr . inet_proto . inet_service", size, []);
        WriteSet(w, NftNames.Resolvers4, "ipv4_addr", "", Resolvers(o, AddressFamily.InterNetwork));
        WriteSet(w, NftNames.Resolvers6, "ipv6_addr", "", Resolvers(o, AddressFamily.InterNetworkV6));
    }

    private static List<string> Resolvers(FirewallOptions o, AddressFamily family) =>
        [.. o.UpstreamDns
            .Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a)
            .Where(a => a.AddressFamily == family)
            .Select(a => new IPAddress(a.GetAddressBytes()).ToString())
            .Distinct(StringComparer.Ordinal)];

    private static void WriteSet(ScriptWriter w, string name, string type, string flags, List<string> elements)
    {
        w.Line($"{Tab}set {name} {{");
        w.Line($"{Tab}{Tab}type {type};");
        if (flags.Length > 0)
        {
            w.Line($"{Tab}{Tab}{flags}");
        }

        if (elements.Count > 0)
        {
            w.Line($"{Tab}{Tab}elements = {{ {string.Join(", ", elements)} }}");
        }

        w.Line($"{Tab}}}");
    }

    private static void WriteNat(ScriptWriter w, FirewallOptions o)
    {
        // Host processes: everything to port 53 goes to the DNS server (also to local stub resolvers), web ports to
        // the proxy unless the destination is local or a container. The appliance's own sockets are never redirected.
        w.Chain("nat_output", "type nat hook output priority -100; policy accept;",
        [
            $"meta mark {Mark(o)} return",
            .. DnsRedirects(o.DnsPort),
            "fib daddr type local return",
            .. o.BridgeInterfaces.Select(b => $"oifname \"{b}\" return"),
            .. WebRedirects(o),
        ]);

        // Containers: the same redirects for traffic arriving from a bridge (it then reaches the local listeners).
        w.Chain("nat_prerouting", "type nat hook prerouting priority -100; policy accept;",
            [.. o.BridgeInterfaces.Select(b => $"iifname \"{b}\" jump container_redirect")]);
        w.Chain("container_redirect", null,
        [
            .. DnsRedirects(o.EffectiveContainerDnsPort),
            "fib daddr type local return",
            .. o.BridgeInterfaces.Select(b => $"fib daddr oifname \"{b}\" return"),
            .. WebRedirects(o),
        ]);
    }

    private static IEnumerable<string> DnsRedirects(int port) =>
    [
        $"udp dport 53 redirect to :{Port(port)}",
        $"tcp dport 53 redirect to :{Port(port)}",
    ];

    private static IEnumerable<string> WebRedirects(FirewallOptions o) =>
    [
        $"tcp dport {HttpPort} redirect to :{Port(o.HttpProxyPort)}",
        $"tcp dport {HttpsPort} redirect to :{Port(o.HttpsProxyPort)}",
    ];

    private static void WriteFilter(ScriptWriter w, FirewallOptions o)
    {
        var block = o.Mode == EgressMode.Block;
        var invalid = block ? "ct state invalid drop" : "ct state invalid accept";
        var notBridge = string.Concat(o.BridgeInterfaces.Select(b => $" oifname != \"{b}\""));
        var containerDns = o.EffectiveContainerDnsPort == o.DnsPort ? "" : $", tcp . {Port(o.EffectiveContainerDnsPort)}, udp . {Port(o.EffectiveContainerDnsPort)}";
        var redirectTargets = $"{{ tcp . {Port(o.HttpProxyPort)}, tcp . {Port(o.HttpsProxyPort)}, tcp . {Port(o.DnsPort)}, udp . {Port(o.DnsPort)}{containerDns} }}";
        var guardLog = Log(o, NflogPrefix.Guard, blocked: true);

        // Before NAT (priority -150): sees the destination the process asked for, and the real output interface.
        w.Chain("output", "type filter hook output priority -150; policy accept;",
        [
            "oifname \"lo\" accept",
            "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld2-listener-report } accept",
            .. o.BridgeInterfaces.Select(b => $"oifname \"{b}\" accept"),
            "ct state established,related accept",
            invalid,
            $"meta mark {Mark(o)} accept",

            // nat_output sends these to the DNS server and the proxy; output_guard refuses any that it did not.
            "meta l4proto { tcp, udp } th dport 53 accept",
            $"tcp dport {{ {HttpPort}, {HttpsPort} }} accept",
            .. o.AllowDhcp ? (string[])["udp sport 68 udp dport 67 accept", "udp sport 546 udp dport 547 accept"] : [],
            "jump egress",
        ]);

        // After NAT (priority 10): the guard. Conntrack can give a new connection the NAT decision of an old flow with
        // the same addresses and ports (or none, if a step deleted the redirect). A DNS or web flow of a job that was
        // not redirected would bypass the DNS server or proxy; an appliance flow that was would loop into itself.
        w.Chain("output_guard", "type filter hook output priority 10; policy accept;",
        [
            $"meta mark {Mark(o)} ct direction original meta l4proto . th dport {redirectTargets} ct status dnat counter name {NftNames.GuardLoop} drop",
            $"tcp dport {{ 53, 80, 443 }} tcp flags & (syn | ack) == syn meta mark != {Mark(o)} ct status & dnat == 0 fib daddr type != local{notBridge} {guardLog} counter name {NftNames.GuardUnredirected} reject with tcp reset",
            $"udp dport 53 meta mark != {Mark(o)} ct status & dnat == 0 fib daddr type != local{notBridge} {guardLog} counter name {NftNames.GuardUnredirected} drop",
        ]);

        // The appliance's listeners accept from any address (containers reach them through their bridge's address after
        // the prerouting redirect); only redirected flows and loopback may reach them, never a direct connection from
        // another machine (which would make the DNS server an open resolver and the proxy an open relay).
        w.Chain("input", "type filter hook input priority 0; policy accept;",
        [
            "iifname \"lo\" accept",
            $"meta l4proto . th dport {redirectTargets} ct status dnat accept",
            $"meta l4proto . th dport {redirectTargets} counter drop",
        ]);

        // Containers: redirected flows were turned into local ones in nat_prerouting, so every forwarded DNS or web
        // flow is one that escaped the redirect (guard); the rest is filtered like the host's own traffic.
        w.Chain("forward", "type filter hook forward priority 0; policy accept;",
            [.. o.BridgeInterfaces.Select(b => $"iifname \"{b}\" jump container_egress")]);
        w.Chain("container_egress", null,
        [
            .. o.BridgeInterfaces.Select(b => $"oifname \"{b}\" accept"),
            $"tcp dport {{ 53, 80, 443 }} tcp flags & (syn | ack) == syn {guardLog} counter name {NftNames.GuardUnredirected} reject with tcp reset",
            $"udp dport 53 {guardLog} counter name {NftNames.GuardUnredirected} drop",
            "ct state established,related accept",
            invalid,
            "jump egress",
        ]);

        // New flows that are not local, not to a container, not the appliance's, not redirected: allowed or denied.
        w.Chain("egress", null,
        [
            $"ip daddr @{NftNames.Resolvers4} goto deny_resolver",
            $"ip6 daddr @{NftNames.Resolvers6} goto deny_resolver",
            .. block ? (string[])["udp dport 443 goto deny_quic"] : [],
            $"ip daddr . meta l4proto . th dport @{NftNames.Static4} accept",
            $"ip6 daddr . meta l4proto . th dport @{NftNames.Static6} accept",
            $"ip daddr . meta l4proto . th dport @{NftNames.Allow4} accept",
            $"ip6 daddr . meta l4proto . th dport @{NftNames.Allow6} accept",
            "goto deny",
        ]);

        var verdict = block ? "drop" : "accept";
        w.Chain("deny_resolver", null, [$"{Log(o, NflogPrefix.Resolver, block)} {verdict}"]);
        if (block)
        {
            // QUIC gets an immediate ICMP error so clients fall back to TCP (which the proxy inspects) without waiting.
            w.Chain("deny_quic", null, [$"{Log(o, NflogPrefix.Quic, blocked: true)} reject"]);
        }

        w.Chain("deny", null, [$"{Log(o, NflogPrefix.Deny, block)} {verdict}"]);
    }

    private sealed class ScriptWriter
    {
        private readonly StringBuilder _sb = new();

        public void Line(string line) => _sb.Append(line).Append('\n');

        public void Raw(string text) => _sb.Append(text);

        public void Chain(string name, string? hook, IEnumerable<string> rules)
        {
            Line($"{Tab}chain {name} {{");
            if (hook is not null)
            {
                Line($"{Tab}{Tab}{hook}");
            }

            foreach (var r in rules)
            {
                Line($"{Tab}{Tab}{r}");
            }

            Line($"{Tab}}}");
        }

        public override string ToString() => _sb.ToString();
    }
}
