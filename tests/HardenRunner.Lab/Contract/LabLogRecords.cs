namespace HardenRunner.Lab.Contract;

// Field meanings (shared by the records below):
//   Server        which lab identity received it: a host name ("allowed", "attacker", …) or "resolver" for the lab DNS
//   Source/Remote the client's address and port as the lab internet saw it (after any NAT in the runner)
//   Preview       the first LabJson.PreviewBytes bytes as UTF-8 (invalid bytes replaced); PreviewBase64 the exact bytes

/// <summary>
/// One DNS query as a lab DNS listener received it (dns.jsonl), logged before it is answered. <c>Transport</c> is
/// "udp" or "tcp"; <c>Source</c> e.g. "192.0.2.1:40000"; <c>Name</c> without the trailing dot; <c>Type</c> e.g.
/// "A", "AAAA", "TXT", "HTTPS"; <c>ResponseCode</c> "NoError", "NxDomain", …; <c>Answers</c> in zone-file text.
/// </summary>
public sealed record DnsQueryRecord(
    DateTimeOffset Time,
    string Server,
    string Transport,
    string Source,
    string Name,
    string Type,
    string ResponseCode,
    IReadOnlyList<string> Answers);

/// <summary>
/// One HTTP request received by a lab web server (http.jsonl), logged before the response is sent. <c>Scheme</c> is
/// "http" or "https"; <c>Sni</c> the TLS server name (null for plain HTTP or none sent); <c>Host</c> the Host header
/// or :authority; <c>Path</c> as Kestrel decoded it; <c>RawTarget</c> the request target exactly as sent (path
/// tricks such as %2e%2e stay visible); <c>Headers</c> every header, names in lower case, values joined by "," (it is a lab: nothing is
/// redacted); <c>BodyLength</c> the whole body's length.
/// </summary>
public sealed record HttpRequestRecord(
    DateTimeOffset Time,
    string Server,
    string Scheme,
    string LocalAddress,
    int LocalPort,
    string RemoteAddress,
    int RemotePort,
    string? Sni,
    string Host,
    string Method,
    string Path,
    string RawTarget,
    string Protocol,
    IReadOnlyDictionary<string, string> Headers,
    long BodyLength,
    string BodyPreview,
    string BodyPreviewBase64);

/// <summary>One raw TCP connection (tcp.jsonl), written when it ends (peer close, reset, idle timeout).</summary>
public sealed record TcpConnectionRecord(
    DateTimeOffset Opened,
    DateTimeOffset Closed,
    string Server,
    string LocalAddress,
    int LocalPort,
    string RemoteAddress,
    int RemotePort,
    long BytesReceived,
    string Preview,
    string PreviewBase64);

/// <summary>One UDP datagram (udp.jsonl), written when it arrives.</summary>
public sealed record UdpDatagramRecord(
    DateTimeOffset Time,
    string Server,
    string LocalAddress,
    int LocalPort,
    string RemoteAddress,
    int RemotePort,
    int Length,
    string Preview,
    string PreviewBase64);
