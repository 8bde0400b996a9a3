using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using ArDnsServer = ARSoft.Tools.Net.Dns.DnsServer;

namespace HardenRunner.Tests.Dns;

/// <summary>
/// A real upstream DNS server for the tests (ARSoft.Tools.Net, UDP and TCP on a loopback port) with a small zone.
/// It logs every datagram/connection that reaches it and every query it parsed, so a test can prove that a name was
/// never sent upstream.
/// </summary>
internal sealed class TestUpstream : IDisposable
{
    public static readonly IPAddress AllowedV4 = IPAddress.Parse("192.0.2.10");
    public static readonly IPAddress AllowedV6 = IPAddress.Parse("2001:db8::10");
    public static readonly IPAddress EdgeV4 = IPAddress.Parse("192.0.2.20");
    public static readonly IPAddress EdgeV6 = IPAddress.Parse("2001:db8::20");
    public static readonly IPAddress ExfilV4 = IPAddress.Parse("198.51.100.66");
    public static readonly byte[] EchConfig = [0xfe, 0x0d, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef];

    private readonly ArDnsServer _server;
    private readonly Dictionary<(string Name, RecordType Type), List<DnsRecordBase>> _records = [];
    private readonly Dictionary<string, DomainName> _cnames = [];

    private TestUpstream(IPEndPoint endpoint)
    {
        Endpoint = endpoint;
        BuildZone();
        _server = new ArDnsServer(new UdpServerTransport(endpoint, 2000), new TcpServerTransport(endpoint, 5000, 5000));
        _server.ClientConnected += (_, e) =>
        {
            Interlocked.Increment(ref _arrivals);
            return Task.CompletedTask;
        };
        _server.QueryReceived += (_, e) =>
        {
            var query = (DnsMessage)e.Query;
            foreach (var q in query.Questions)
            {
                Log.Enqueue(new Received(q.Name.ToString().TrimEnd('.').ToLowerInvariant(), q.RecordType, e.TransportProtocol));
            }

            e.Response = Answer(query);
            return Task.CompletedTask;
        };
        _server.Start();
    }

    private int _arrivals;

    public IPEndPoint Endpoint { get; }

    public ConcurrentQueue<Received> Log { get; } = new();

    /// <summary>UDP datagrams and TCP connections that reached the server, parseable or not.</summary>
    public int Arrivals => Volatile.Read(ref _arrivals);

    public static TestUpstream Start(IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        for (var attempt = 0; ; attempt++)
        {
            var endpoint = new IPEndPoint(address, FreePort(address));
            try
            {
                return new TestUpstream(endpoint);
            }
            catch (SocketException) when (attempt < 10)
            {
                // the port was taken between the probe and the bind: try another
            }
        }
    }

    /// <summary>A port free for both UDP and TCP right now.</summary>
    public static int FreePort(IPAddress address)
    {
        for (var attempt = 0; ; attempt++)
        {
            using var udp = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(address, 0));
            var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            using var tcp = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                tcp.Bind(new IPEndPoint(address, port));
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
        }
    }

    public IReadOnlyList<Received> Queries(string name) => [.. Log.Where(r => r.Name == name)];

    public void Dispose()
    {
        try
        {
            _server.Stop();
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is OperationCanceledException))
        {
            // ARSoft's Stop waits on its own cancelled listener tasks and reports their cancellation
        }
    }

    private static DomainName N(string name) => DomainName.Parse(name);

    private void Add(DnsRecordBase record)
    {
        var key = (record.Name.ToString().TrimEnd('.').ToLowerInvariant(), record.RecordType);
        if (!_records.TryGetValue(key, out var list))
        {
            _records[key] = list = [];
        }

        list.Add(record);
    }

    private void BuildZone()
    {
        Add(new ARecord(N("allowed.test"), 5, AllowedV4));
        Add(new AaaaRecord(N("allowed.test"), 5, AllowedV6));
        Add(new TxtRecord(N("allowed.test"), 300, "v=spf1 -all"));
        Add(new MxRecord(N("allowed.test"), 300, 10, N("mail.allowed.test")));
        Add(new SrvRecord(N("_imaps._tcp.allowed.test"), 300, 1, 5, 993, N("mail.allowed.test")));
        Add(new CAARecord(N("allowed.test"), 300, 0, "issue", "ca.test"));
        Add(new PtrRecord(N("10.2.0.192.in-addr.arpa"), 300, N("allowed.test")));
        Add(new HttpsRecord(N("allowed.test"), 300, 1, DomainName.Root, new Dictionary<ServiceBindingParameterKey, ServiceBindingParameterBase>
        {
            [ServiceBindingParameterKey.ALPN] = new UnknownServiceBindingParameter(ServiceBindingParameterKey.ALPN, [2, (byte)'h', (byte)'2']),
            [ServiceBindingParameterKey.ECH] = new UnknownServiceBindingParameter(ServiceBindingParameterKey.ECH, EchConfig),
            [ServiceBindingParameterKey.Port] = new PortServiceBindingParameter(443),
        }));

        // SVCB (type 64, RFC 9460 §2) carries ech the same way: a DNS-over-TLS endpoint of the service (RFC 9461)
        Add(new SvcBRecord(N("_dns.allowed.test"), 300, 1, N("dot.allowed.test"), new Dictionary<ServiceBindingParameterKey, ServiceBindingParameterBase>
        {
            [ServiceBindingParameterKey.ALPN] = new UnknownServiceBindingParameter(ServiceBindingParameterKey.ALPN, [3, (byte)'d', (byte)'o', (byte)'t']),
            [ServiceBindingParameterKey.Port] = new PortServiceBindingParameter(853),
            [ServiceBindingParameterKey.ECH] = new UnknownServiceBindingParameter(ServiceBindingParameterKey.ECH, EchConfig),
        }));

        // www.allowed.test -> edge.cdn.test -> edge2.cdn.test (A with a long TTL, AAAA with TTL 0)
        _cnames["www.allowed.test"] = N("edge.cdn.test");
        _cnames["edge.cdn.test"] = N("edge2.cdn.test");
        Add(new ARecord(N("edge2.cdn.test"), 7200, EdgeV4));
        Add(new AaaaRecord(N("edge2.cdn.test"), 0, EdgeV6));

        // an answer bigger than 512 bytes: truncated over UDP
        Add(new TxtRecord(N("big.allowed.test"), 60, Enumerable.Range(0, 12).Select(i => new string((char)('a' + i), 200))));
    }

    private DnsMessage Answer(DnsMessage query)
    {
        var response = query.CreateResponseInstance();
        response.IsRecursionAllowed = true;
        var q = query.Questions[0];
        var name = q.Name.ToString().TrimEnd('.').ToLowerInvariant();

        // every name under exfil.test "exists": if one were forwarded, the client would get data
        if (name.EndsWith("exfil.test", StringComparison.Ordinal))
        {
            response.AnswerRecords.Add(new ARecord(q.Name, 60, ExfilV4));
            response.ReturnCode = ReturnCode.NoError;
            return response;
        }

        for (var i = 0; i < 8 && _cnames.TryGetValue(name, out var target); i++)
        {
            response.AnswerRecords.Add(new CNameRecord(N(name), 60, target));
            name = target.ToString().TrimEnd('.');
        }

        if (_records.TryGetValue((name, q.RecordType), out var records))
        {
            response.AnswerRecords.AddRange(records);
        }

        var known = response.AnswerRecords.Count > 0 || _records.Keys.Any(k => k.Name == name);
        response.ReturnCode = known ? ReturnCode.NoError : ReturnCode.NxDomain;
        return response;
    }

    public sealed record Received(string Name, RecordType Type, TransportProtocol Transport);
}
