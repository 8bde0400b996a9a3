using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HardenRunner.Monitoring;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Monitoring;

/// <summary>sock_diag + fd links on loopback: the owner of a TCP client socket and of a UDP socket.</summary>
public class SocketOwnerTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Tcp_LoopbackClientOfThisProcess_AttributedToThisProcess()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        client.Connect((IPEndPoint)listener.LocalEndpoint);
        using var accepted = listener.AcceptSocket();
        var clientEnd = (IPEndPoint)accepted.RemoteEndPoint!;
        var serverEnd = (IPEndPoint)accepted.LocalEndPoint!;

        var withDestination = monitor.Attributor.AttributeTcp(clientEnd, serverEnd);
        var withoutDestination = monitor.Attributor.AttributeTcp(clientEnd, null);
        MonitorTest.AssertSelfOrForkedChild(withDestination.Process?.Pid);
        MonitorTest.AssertSelfOrForkedChild(withoutDestination.Process?.Pid);

        // a port nobody uses: unknown, not a guess
        Assert.Null(monitor.Attributor.AttributeTcp(new IPEndPoint(IPAddress.Loopback, FreePort()), serverEnd).Process);
    }

    [SkippableFact]
    public void Tcp_ClientInPythonChild_AttributedToTheChild()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var child = MonitorTest.Spawn(MonitorTest.Python, "-c", $"import socket,time; s=socket.create_connection(('127.0.0.1',{port})); time.sleep(5)");
        try
        {
            using var accepted = AcceptWithin(listener, TimeSpan.FromSeconds(10));
            var sw = Stopwatch.StartNew();
            var a = monitor.Attributor.AttributeTcp((IPEndPoint)accepted.RemoteEndPoint!, (IPEndPoint)accepted.LocalEndPoint!);
            var first = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            var again = monitor.Attributor.AttributeTcp((IPEndPoint)accepted.RemoteEndPoint!, (IPEndPoint)accepted.LocalEndPoint!);
            var cached = sw.Elapsed.TotalMilliseconds;
            output.WriteLine($"tcp owner: first lookup {first:F2} ms, repeated {cached:F3} ms; {ProcFs.ListPids().Count} processes on the machine");
            Assert.Equal(child.Id, a.Process?.Pid);
            Assert.Equal(child.Id, again.Process?.Pid);
            Assert.Contains("python", a.Process?.Exe);
            Assert.Contains("socket.create_connection", a.Process?.Cmdline);
            Assert.Equal(Environment.ProcessId, a.Process?.Ancestors[0].Pid);
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public void Udp_SocketOfThisProcessAndOfPythonChild_Attributed()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        using var mine = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        MonitorTest.AssertSelfOrForkedChild(monitor.Attributor.AttributeUdp((IPEndPoint)mine.Client.LocalEndPoint!).Process?.Pid);

        // a connected socket (glibc's resolver connects): found by the exact lookup with the destination
        using var connected = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        connected.Connect(new IPEndPoint(IPAddress.Loopback, 53));
        MonitorTest.AssertSelfOrForkedChild(monitor.Attributor.AttributeUdp((IPEndPoint)connected.Client.LocalEndPoint!, new IPEndPoint(IPAddress.Loopback, 53)).Process?.Pid);

        // a redirected query: the connected socket's peer is the port it sent to (53), not the one the query arrived on;
        // the second guess finds it with another exact lookup, without listing the port's sockets
        var owners = monitor.Owners!;
        var dumps = owners.UdpDumps;
        var arrivedOn = new IPEndPoint(IPAddress.Loopback, 53530);
        MonitorTest.AssertSelfOrForkedChild(monitor.Attributor.AttributeUdp((IPEndPoint)connected.Client.LocalEndPoint!, arrivedOn, new IPEndPoint(IPAddress.Loopback, 53)).Process?.Pid);
        MonitorTest.AssertSelfOrForkedChild(monitor.Attributor.AttributeUdp((IPEndPoint)connected.Client.LocalEndPoint!, new IPEndPoint(IPAddress.Loopback, 53), arrivedOn).Process?.Pid);
        Assert.Equal(dumps, owners.UdpDumps);

        // neither guess right: the listing still finds it
        MonitorTest.AssertSelfOrForkedChild(monitor.Attributor.AttributeUdp((IPEndPoint)connected.Client.LocalEndPoint!, arrivedOn, new IPEndPoint(IPAddress.Loopback, 5353)).Process?.Pid);
        Assert.Equal(dumps + 1, owners.UdpDumps);

        // a DNS-client-like child: an unconnected socket on the wildcard address sending to "the resolver" (us)
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)server.Client.LocalEndPoint!).Port;
        var child = MonitorTest.Spawn(MonitorTest.Python, "-c", $"import socket,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b'q',('127.0.0.1',{port})); time.sleep(5)");
        try
        {
            var receive = server.ReceiveAsync();
            Assert.True(receive.Wait(TimeSpan.FromSeconds(10)), "no datagram from the child");
            var source = receive.Result.RemoteEndPoint;
            var sw = Stopwatch.StartNew();
            var a = monitor.Attributor.AttributeUdp(source);
            output.WriteLine($"udp owner lookup {sw.Elapsed.TotalMilliseconds:F2} ms");
            Assert.Equal(child.Id, a.Process?.Pid);
            Assert.Equal(child.Id, monitor.Attributor.AttributeUdp(source, (IPEndPoint)server.Client.LocalEndPoint!).Process?.Pid);
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public void Tcp_Ipv6Loopback_Attributed()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        Skip.IfNot(Socket.OSSupportsIPv6, "no IPv6");
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        using var listener = new TcpListener(IPAddress.IPv6Loopback, 0);
        try
        {
            listener.Start();
        }
        catch (SocketException e)
        {
            Skip.If(true, "no IPv6 loopback: " + e.Message);
        }

        using var client = new TcpClient(AddressFamily.InterNetworkV6);
        client.Connect((IPEndPoint)listener.LocalEndpoint);
        using var accepted = listener.AcceptSocket();
        MonitorTest.AssertSelfOrForkedChild(monitor.Attributor.AttributeTcp((IPEndPoint)accepted.RemoteEndPoint!, null).Process?.Pid);
    }

    private static Socket AcceptWithin(TcpListener listener, TimeSpan timeout)
    {
        var accept = listener.AcceptSocketAsync();
        Assert.True(accept.Wait(timeout), "no connection");
        return accept.Result;
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
