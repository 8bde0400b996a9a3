using HardenRunner.Lab.Contract;

namespace HardenRunner.LabInternet.Logging;

/// <summary>The four record logs of the lab internet.</summary>
internal sealed class LabLogs : IDisposable
{
    public LabLogs(string directory)
    {
        Dns = new JsonLineWriter(Path.Combine(directory, LabJson.DnsLogFile));
        Http = new JsonLineWriter(Path.Combine(directory, LabJson.HttpLogFile));
        Tcp = new JsonLineWriter(Path.Combine(directory, LabJson.TcpLogFile));
        Udp = new JsonLineWriter(Path.Combine(directory, LabJson.UdpLogFile));
    }

    public JsonLineWriter Dns { get; }

    public JsonLineWriter Http { get; }

    public JsonLineWriter Tcp { get; }

    public JsonLineWriter Udp { get; }

    public void Dispose()
    {
        Dns.Dispose();
        Http.Dispose();
        Tcp.Dispose();
        Udp.Dispose();
    }
}
