using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Dns;
using HardenRunner.Events;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;
using DnsServer = HardenRunner.Dns.DnsServer;

namespace HardenRunner.Tests.Dns;

/// <summary>Records what the DNS server put in the "firewall"; can hold an address back to prove the server waits.</summary>
internal sealed class RecordingSink : IResolvedAddressSink
{
    public ConcurrentQueue<(IPAddress Address, IReadOnlyList<PortGrant> Grants, TimeSpan Ttl, PolicyEngine DecidedBy)> Added { get; } = new();

    /// <summary>When set, AddAsync waits for this task first.</summary>
    public Task? Gate { get; set; }

    public Exception? Failure { get; set; }

    public async ValueTask AddAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, PolicyEngine decidedBy, CancellationToken cancellationToken)
    {
        if (Gate is { } gate)
        {
            await gate.WaitAsync(cancellationToken);
        }

        if (Failure is { } failure)
        {
            throw failure;
        }

        Added.Enqueue((address, grants, ttl, decidedBy));
    }
}

internal sealed class RecordingEvents : IEventSink
{
    public ConcurrentQueue<ApplianceEvent> Events { get; } = new();

    public IReadOnlyList<NetworkEvent> Dns => [.. Events.OfType<NetworkEvent>().Where(e => e.Kind == "dns")];

    public void Publish(ApplianceEvent e) => Events.Enqueue(e);
}

/// <summary>A DNS server under test on 127.0.0.1 and [::1] (one free port), with its sink and events.</summary>
internal sealed class ServerUnderTest : IAsyncDisposable
{
    public const string AllowingPolicy = """
        allowed-endpoints:
          - allowed.test:443
          - "*.allowed.test:443"
          - www.allowed.test:8443
          - 10.2.0.192.in-addr.arpa:443
        """;

    private ServerUnderTest(DnsServer server, RecordingSink sink, RecordingEvents events)
    {
        Server = server;
        Sink = sink;
        Events = events;
    }

    public DnsServer Server { get; }

    public RecordingSink Sink { get; }

    public RecordingEvents Events { get; }

    public IPEndPoint V4 => Server.LocalEndpoints[0];

    public IPEndPoint V6 => Server.LocalEndpoints[1];

    public static PolicyEngine Policy(EgressMode mode, string yaml = AllowingPolicy)
    {
        var result = PolicyLoader.Parse($"egress-policy: {(mode == EgressMode.Block ? "block" : "audit")}\n{yaml}", "test-policy.yml");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return new PolicyEngine(result.Policy!);
    }

    public static async Task<ServerUnderTest> StartAsync(IReadOnlyList<IPEndPoint> upstreams, EgressMode mode = EgressMode.Block, Func<DnsServerOptions, DnsServerOptions>? configure = null, RecordingSink? sink = null, ActivePolicy? policy = null)
    {
        var options = new DnsServerOptions
        {
            ListenEndpoints = [new IPEndPoint(IPAddress.Loopback, 0), new IPEndPoint(IPAddress.IPv6Loopback, 0)],
            Upstreams = upstreams,
            ConfigureUpstreamSocket = null, // marking is tested separately (needs CAP_NET_ADMIN)
            UpstreamAttemptTimeout = TimeSpan.FromSeconds(2),
            QueryTimeout = TimeSpan.FromSeconds(4),
        };
        options = configure?.Invoke(options) ?? options;
        sink ??= new RecordingSink();
        var events = new RecordingEvents();
        var server = new DnsServer(options, policy ?? new ActivePolicy(Policy(mode)), sink, events);
        await server.StartAsync();
        return new ServerUnderTest(server, sink, events);
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

/// <summary>A plain DNS client on raw sockets: what leaves and what comes back are exactly bytes.</summary>
internal static class DnsTestClient
{
    public static async Task<byte[]?> UdpAsync(IPEndPoint server, byte[] query, TimeSpan? timeout = null)
    {
        using var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await socket.ConnectAsync(server);
        await socket.SendAsync(query, SocketFlags.None);
        var buffer = new byte[65535];
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(5));
        try
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return buffer[..n];
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public static async Task<byte[]?> TcpAsync(IPEndPoint server, byte[] query, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(5));
        using var socket = new Socket(server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server, cts.Token);
        var framed = new byte[query.Length + 2];
        framed[0] = (byte)(query.Length >> 8);
        framed[1] = (byte)query.Length;
        query.CopyTo(framed, 2);
        await socket.SendAsync(framed, SocketFlags.None, cts.Token);
        try
        {
            var length = new byte[2];
            if (!await ReadExactlyAsync(socket, length, cts.Token))
            {
                return null;
            }

            var message = new byte[(length[0] << 8) | length[1]];
            return await ReadExactlyAsync(socket, message, cts.Token) ? message : null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken token)
    {
        while (buffer.Length > 0)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, token);
            if (n == 0)
            {
                return false;
            }

            buffer = buffer[n..];
        }

        return true;
    }
}
