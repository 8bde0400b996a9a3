using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using HardenRunner.Events;
using HardenRunner.Linux;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>What a listener saw: a TCP connection or a UDP datagram on a local port.</summary>
public sealed record Arrival(string Transport, int LocalPort, IPEndPoint Remote, string Payload);

/// <summary>Dual-stack TCP and UDP listeners on a set of ports inside one namespace; records every arrival.</summary>
[SupportedOSPlatform("linux")]
public sealed class NetListener : IDisposable
{
    private readonly List<Socket> _sockets = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<Arrival> _arrivals = new();

    public NetListener(string ns, params int[] ports)
    {
        foreach (var port in ports)
        {
            var tcp = NetnsFixture.CreateSocket(ns, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            tcp.DualMode = true;
            tcp.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
            tcp.Listen(64);
            _sockets.Add(tcp);
            _ = AcceptLoopAsync(tcp, port);

            var udp = NetnsFixture.CreateSocket(ns, AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp);
            udp.DualMode = true;
            udp.Bind(new IPEndPoint(IPAddress.IPv6Any, port));
            _sockets.Add(udp);
            _ = ReceiveLoopAsync(udp, port);
        }
    }

    public IReadOnlyCollection<Arrival> Arrivals => [.. _arrivals];

    /// <summary>Waits until an arrival matches, up to <paramref name="timeout"/>.</summary>
    public async Task<Arrival?> WaitForAsync(Func<Arrival, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var hit = _arrivals.FirstOrDefault(match);
            if (hit is not null || DateTime.UtcNow >= deadline)
            {
                return hit;
            }

            await Task.Delay(25);
        }
    }

    /// <summary>How many arrivals match once <paramref name="expected"/> have (or <paramref name="timeout"/> passed).</summary>
    public async Task<int> CountAsync(Func<Arrival, bool> match, int expected, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var n = _arrivals.Count(match);
            if (n >= expected || DateTime.UtcNow >= deadline)
            {
                return n;
            }

            await Task.Delay(25);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var s in _sockets)
        {
            s.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener, int port)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(_stop.Token);
                _arrivals.Enqueue(new Arrival("tcp", port, Normalize((IPEndPoint)client.RemoteEndPoint!), ""));
                client.Dispose();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ReceiveLoopAsync(Socket udp, int port)
    {
        var buffer = new byte[2048];
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var r = await udp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.IPv6Any, 0), _stop.Token);
                _arrivals.Enqueue(new Arrival("udp", port, Normalize((IPEndPoint)r.RemoteEndPoint), Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes)));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
    }

    private static IPEndPoint Normalize(IPEndPoint ep) =>
        ep.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(ep.Address.MapToIPv4(), ep.Port) : ep;
}

public enum ConnectOutcome
{
    Connected,
    Refused,
    TimedOut,
}

/// <summary>Clients that run inside a namespace: TCP connects and UDP sends from sockets created there.</summary>
[SupportedOSPlatform("linux")]
public static class NetClient
{
    public static async Task<ConnectOutcome> ConnectAsync(string ns, IPAddress address, int port, TimeSpan timeout, bool marked = false, int localPort = 0)
    {
        using var s = NetnsFixture.CreateSocket(ns, address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (marked)
        {
            SocketMark.Apply(s);
        }

        if (localPort != 0)
        {
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(address.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, localPort));
        }

        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await s.ConnectAsync(new IPEndPoint(address, port), cts.Token);
            return ConnectOutcome.Connected;
        }
        catch (OperationCanceledException)
        {
            return ConnectOutcome.TimedOut;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
        {
            return ConnectOutcome.Refused;
        }
    }

    /// <summary>Sends one datagram (payload = <paramref name="payload"/>) and closes the socket.</summary>
    public static void SendUdp(string ns, IPAddress address, int port, string payload, bool marked = false, int localPort = 0)
    {
        using var s = NetnsFixture.CreateSocket(ns, address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (marked)
        {
            SocketMark.Apply(s);
        }

        if (localPort != 0)
        {
            s.Bind(new IPEndPoint(address.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, localPort));
        }

        try
        {
            s.SendTo(Encoding.ASCII.GetBytes(payload), new IPEndPoint(address, port));
        }
        catch (SocketException)
        {
            // a send refused locally (EPERM from a drop/reject) is the firewall doing its job
        }
    }
}

/// <summary>Collects published events (thread-safe).</summary>
[SupportedOSPlatform("linux")]
public sealed class CapturingSink : IEventSink
{
    private readonly ConcurrentQueue<ApplianceEvent> _events = new();

    public IReadOnlyList<ApplianceEvent> Events => [.. _events];

    public void Publish(ApplianceEvent e) => _events.Enqueue(e);

    public async Task<T?> WaitForAsync<T>(Func<T, bool> match, TimeSpan timeout)
        where T : ApplianceEvent
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var hit = _events.OfType<T>().FirstOrDefault(match);
            if (hit is not null || DateTime.UtcNow >= deadline)
            {
                return hit;
            }

            await Task.Delay(25);
        }
    }
}
