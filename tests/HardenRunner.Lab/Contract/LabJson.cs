using System.Text.Json;

namespace HardenRunner.Lab.Contract;

/// <summary>The JSON settings both sides of the lab use for the config file and the logs.</summary>
public static class LabJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    public const string DnsLogFile = "dns.jsonl";
    public const string HttpLogFile = "http.jsonl";
    public const string TcpLogFile = "tcp.jsonl";
    public const string UdpLogFile = "udp.jsonl";

    /// <summary>How many leading payload bytes a log record keeps.</summary>
    public const int PreviewBytes = 4096;
}
