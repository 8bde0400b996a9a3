namespace HardenRunner.Lab.Contract;

/// <summary>
/// The configuration file that <c>Lab</c> writes and <c>HardenRunner.LabInternet</c> reads (camelCase JSON).
/// This file is compiled into both assemblies, so the two sides cannot drift apart.
/// </summary>
public sealed class LabInternetConfig
{
    /// <summary>Directory for dns.jsonl, http.jsonl, tcp.jsonl and udp.jsonl.</summary>
    public string LogDirectory { get; set; } = "";

    /// <summary>Written (atomically, containing the process id) once every listener is bound.</summary>
    public string ReadyFile { get; set; } = "";

    /// <summary>PEM of the lab root CA; sent nowhere, used to build the served chain.</summary>
    public string CaCertificateFile { get; set; } = "";

    public int DnsPort { get; set; } = 53;

    public int HttpPort { get; set; } = 80;

    public int HttpsPort { get; set; } = 443;

    public List<int> TcpPorts { get; set; } = [];

    public List<int> UdpPorts { get; set; } = [];

    /// <summary>Every HTTP/HTTPS/TCP/UDP server identity, each on its own addresses.</summary>
    public List<LabServerConfig> Servers { get; set; } = [];

    /// <summary>Addresses where a DNS server answers <see cref="Zone"/> (UDP and TCP on <see cref="DnsPort"/>).</summary>
    public List<LabDnsListenerConfig> DnsListeners { get; set; } = [];

    public List<LabZoneRecord> Zone { get; set; } = [];

    /// <summary>Files served read-only under <c>/git/</c> (a dumb-HTTP git remote for clone/ls-remote tests); empty = none.</summary>
    public string StaticRoot { get; set; } = "";
}

/// <summary>One fake host of the lab internet.</summary>
public sealed class LabServerConfig
{
    /// <summary>The identity written in responses ("lab:NAME") and in every log record.</summary>
    public string Name { get; set; } = "";

    public List<string> Addresses { get; set; } = [];

    public string CertificateFile { get; set; } = "";

    public string KeyFile { get; set; } = "";

    /// <summary>DNS names (and <c>*.</c> wildcards) in the certificate's SAN; used for SNI selection.</summary>
    public List<string> CertificateNames { get; set; } = [];
}

public sealed class LabDnsListenerConfig
{
    /// <summary>Written as <c>server</c> in each query record, e.g. "resolver" or "attacker".</summary>
    public string Name { get; set; } = "";

    public string Address { get; set; } = "";
}

/// <summary>
/// One record of the lab zone. <see cref="Name"/> may start with <c>*.</c> (matches one or more labels in front of
/// the rest, never the bare apex). <see cref="Type"/> is A, AAAA, CNAME or TXT.
/// </summary>
public sealed class LabZoneRecord
{
    public string Name { get; set; } = "";

    public string Type { get; set; } = "";

    public string Value { get; set; } = "";

    public int Ttl { get; set; } = 60;
}
