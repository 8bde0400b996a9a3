using System.Net;

namespace HardenRunner.Lab;

/// <summary>
/// A fake host of the lab internet: one IPv4 and one IPv6 address in the internet namespace, serving HTTP (80),
/// HTTPS (443) with a lab-CA certificate for <see cref="CertificateNames"/>, and the raw TCP/UDP recorders.
/// <see cref="Name"/> is its identity in responses ("lab:NAME") and in every log record.
/// </summary>
public sealed record LabHost(string Name, IPAddress V4, IPAddress V6)
{
    /// <summary>Names the lab DNS answers with this host's addresses (A and AAAA); <c>*.x</c> wildcards allowed.</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>SAN names of the host's certificate; defaults to <see cref="DnsNames"/> (or <see cref="Name"/>).</summary>
    public IReadOnlyList<string>? CertificateNames { get; init; }

    /// <summary>Also run a DNS server (answering the lab zone) on this host's addresses, e.g. a rogue resolver.</summary>
    public bool ServesDns { get; init; }

    public IReadOnlyList<IPAddress> Addresses => [V4, V6];

    internal IReadOnlyList<string> EffectiveCertificateNames =>
        CertificateNames is { Count: > 0 } names ? names : DnsNames.Count > 0 ? DnsNames : [Name];
}

/// <summary>The hosts every lab has unless a test changes <see cref="LabOptions.Hosts"/>.</summary>
public static class LabHosts
{
    /// <summary>allowed.test and *.allowed.test — the name tests put in their allow lists.</summary>
    public static LabHost Allowed { get; } = new("allowed.test", IPAddress.Parse("198.51.100.10"), IPAddress.Parse("2001:db8:100::10"))
    {
        DnsNames = ["allowed.test", "*.allowed.test"],
    };

    /// <summary>exfil.test and *.exfil.test — where hostile code tries to send secrets.</summary>
    public static LabHost Exfil { get; } = new("exfil.test", IPAddress.Parse("198.51.100.20"), IPAddress.Parse("2001:db8:100::20"))
    {
        DnsNames = ["exfil.test", "*.exfil.test"],
    };

    /// <summary>GitHub's API host name, answered only inside the lab.</summary>
    public static LabHost GitHubApi { get; } = new("api.github.com", IPAddress.Parse("198.51.100.30"), IPAddress.Parse("2001:db8:100::30"))
    {
        DnsNames = ["api.github.com"],
    };

    /// <summary>github.com, answered only inside the lab.</summary>
    public static LabHost GitHub { get; } = new("github.com", IPAddress.Parse("198.51.100.31"), IPAddress.Parse("2001:db8:100::31"))
    {
        DnsNames = ["github.com"],
    };

    /// <summary>
    /// An address no DNS name points to, holding valid lab-CA certificates for allowed names (SNI of an allowed
    /// host sent to the attacker's IP) and running a rogue DNS resolver (alternative-resolver exfiltration).
    /// </summary>
    public static LabHost Attacker { get; } = new("attacker", IPAddress.Parse("198.51.100.66"), IPAddress.Parse("2001:db8:100::66"))
    {
        CertificateNames = ["allowed.test", "*.allowed.test", "api.github.com", "github.com"],
        ServesDns = true,
    };

    public static IReadOnlyList<LabHost> Defaults { get; } = [Allowed, Exfil, GitHubApi, GitHub, Attacker];
}
