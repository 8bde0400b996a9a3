namespace HardenRunner.Lab;

/// <summary>An extra record for the lab zone (A, AAAA, CNAME or TXT). <see cref="Name"/> may be a <c>*.</c> wildcard.</summary>
public sealed record LabDnsRecord(string Name, string Type, string Value, int Ttl = 60)
{
    public static LabDnsRecord Cname(string name, string target) => new(name, "CNAME", target);

    public static LabDnsRecord Txt(string name, string text) => new(name, "TXT", text);
}
