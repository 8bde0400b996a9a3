namespace HardenRunner.Netfilter;

/// <summary>Names of the objects in the appliance's nftables table. Nothing outside this table is ever touched.</summary>
public static class NftNames
{
    public const string Family = "inet";
    public const string Table = "harden_runner";
    public const string QualifiedTable = Family + " " + Table;

    /// <summary>Static allows (allowed-cidrs, address-literal endpoints): <c>addr . proto . port</c> with intervals.</summary>
    public const string Static4 = "static4";
    public const string Static6 = "static6";

    /// <summary>Dynamic allows pushed by the DNS server: <c>addr . proto . port</c> with per-element timeouts.</summary>
    public const string Allow4 = "allow4";
    public const string Allow6 = "allow6";

    /// <summary>The upstream resolvers: reachable only with the appliance's mark.</summary>
    public const string Resolvers4 = "resolvers4";
    public const string Resolvers6 = "resolvers6";

    /// <summary>Named counters of the guard.</summary>
    public const string GuardUnredirected = "guard_unredirected";
    public const string GuardLoop = "guard_loop";
}

/// <summary>
/// NFLOG prefixes: <c>hr/&lt;reason&gt;/&lt;action&gt;</c>. The builder writes them, the NFLOG reader parses them, so
/// the reader needs no knowledge of the mode: the action (blocked or passed) travels with each logged packet.
/// </summary>
public static class NflogPrefix
{
    public const string Deny = "deny";
    public const string Resolver = "resolver";
    public const string Quic = "quic";
    public const string Guard = "guard";

    public static string Format(string reason, bool blocked) => $"hr/{reason}/{(blocked ? "blocked" : "passed")}";

    /// <summary>Parses a prefix written by <see cref="Format"/>; false for anything else.</summary>
    public static bool TryParse(string? prefix, out string reason, out bool blocked)
    {
        reason = "";
        blocked = false;
        if (prefix is null || !prefix.StartsWith("hr/", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = prefix.AsSpan(3);
        var slash = rest.IndexOf('/');
        if (slash <= 0)
        {
            return false;
        }

        var action = rest[(slash + 1)..];
        if (action.SequenceEqual("blocked"))
        {
            blocked = true;
        }
        else if (!action.SequenceEqual("passed"))
        {
            return false;
        }

        reason = rest[..slash].ToString();
        return true;
    }

    /// <summary>The rule text of a network event for a logged flow.</summary>
    public static string RuleText(string reason) => reason switch
    {
        Deny => "firewall: " + Policy.PolicyEngine.RuleAddressNotAllowed,
        Resolver => "firewall: the upstream resolver is reachable only by the appliance",
        Quic => "firewall: UDP 443 (QUIC) is closed in block mode",
        Guard => "firewall guard: a DNS or web flow that was not redirected to the appliance",
        _ => "firewall: " + reason,
    };
}
