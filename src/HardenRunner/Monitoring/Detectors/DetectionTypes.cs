namespace HardenRunner.Monitoring.Detectors;

/// <summary>Detection type and severity names of DESIGN §5 that the monitors raise.</summary>
public static class DetectionTypes
{
    public const string ReverseShell = "reverse-shell";
    public const string RunnerMemoryRead = "runner-memory-read";
    public const string PrivilegedContainer = "privileged-container";
    public const string SudoUsed = "sudo-used";
    public const string DnsExfiltration = "dns-exfiltration";
    public const string EgressBlocked = "egress-blocked";
    public const string SniMismatch = "sni-mismatch";
    public const string DomainFronting = "domain-fronting";

    public const string Critical = "critical";
    public const string High = "high";
    public const string Medium = "medium";
    public const string Low = "low";
}
