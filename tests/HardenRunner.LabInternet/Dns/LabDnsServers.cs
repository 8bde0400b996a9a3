using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Lab.Contract;
using HardenRunner.LabInternet.Logging;

namespace HardenRunner.LabInternet.Dns;

/// <summary>
/// One ARSoft DNS server (UDP + TCP) per configured listener address, answering from <see cref="LabZone"/>.
/// Every query is logged before it is answered.
/// </summary>
internal sealed class LabDnsServers : IDisposable
{
    private const int TimeoutMs = 5000;
    private const int KeepAliveMs = 5000;

    private readonly List<DnsServer> _servers = [];

    private LabDnsServers()
    {
    }

    public static LabDnsServers Start(LabInternetConfig config, JsonLineWriter log)
    {
        var zone = new LabZone(config.Zone);
        var result = new LabDnsServers();
        try
        {
            foreach (var listener in config.DnsListeners)
            {
                var endpoint = new IPEndPoint(IPAddress.Parse(listener.Address), config.DnsPort);
                EnsureFree(endpoint);
                var server = new DnsServer(
                    new UdpServerTransport(endpoint, TimeoutMs),
                    new TcpServerTransport(endpoint, TimeoutMs, KeepAliveMs));
                var name = listener.Name;
                server.QueryReceived += (_, e) =>
                {
                    Answer(zone, log, name, e);
                    return Task.CompletedTask;
                };
                server.ExceptionThrown += (_, e) =>
                {
                    Console.Error.WriteLine($"lab-internet: dns {name}: {e.Exception.Message}");
                    return Task.CompletedTask;
                };
                server.Start();
                result._servers.Add(server);
            }

            return result;
        }
        catch
        {
            result.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var server in _servers)
        {
            server.Stop();
        }
    }

    private static void Answer(LabZone zone, JsonLineWriter log, string server, QueryReceivedEventArgs e)
    {
        var transport = e.TransportProtocol.ToString().ToLowerInvariant();
        var source = e.RemoteEndpoint.ToString();
        if (e.Query is not DnsMessage query || query.Questions.Count == 0)
        {
            log.Write(new DnsQueryRecord(DateTimeOffset.UtcNow, server, transport, source, "", "", "FormatError", []));
            if (e.Query is DnsMessage malformed)
            {
                var bad = malformed.CreateResponseInstance();
                bad.ReturnCode = ReturnCode.FormatError;
                e.Response = bad;
            }

            return;
        }

        var question = query.Questions[0];
        var response = query.CreateResponseInstance();
        response.IsAuthoritiveAnswer = true;
        var (code, answers) = zone.Resolve(question.Name, question.RecordType);
        response.ReturnCode = code;
        response.AnswerRecords.AddRange(answers);

        log.Write(new DnsQueryRecord(
            DateTimeOffset.UtcNow,
            server,
            transport,
            source,
            question.Name.ToString().TrimEnd('.'),
            question.RecordType.ToString().ToUpperInvariant(),
            code.ToString(),
            [.. answers.Select(a => a.ToString())]));
        e.Response = response;
    }

    /// <summary>ARSoft reports bind failures only through its event; probe first so a taken port fails loudly.</summary>
    private static void EnsureFree(IPEndPoint endpoint)
    {
        using var udp = new Socket(endpoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        udp.Bind(endpoint);
        using var tcp = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        tcp.Bind(endpoint);
    }
}
