using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using HardenRunner.Monitoring;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Monitoring;

/// <summary>
/// Sockets in another network namespace (a container's, a pod's): the monitor runs in this test's namespace, the
/// client in a test-made one, as a container's traffic reaches a host-network appliance through a bridge.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ForeignNamespaceSocketTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    // a TCP connection inside the namespace (v4 and v6) and a bound UDP socket; prints the ports, holds the sockets
    private const string Client = """
        import socket, sys
        out = []
        for fam, addr in ((socket.AF_INET, '192.0.2.1'), (socket.AF_INET6, '2001:db8::1')):
            l = socket.socket(fam, socket.SOCK_STREAM); l.bind((addr, 0)); l.listen()
            c = socket.socket(fam, socket.SOCK_STREAM); c.connect((addr, l.getsockname()[1]))
            a, _ = l.accept()
            out += [str(c.getsockname()[1]), str(l.getsockname()[1])]
            globals()['keep' + str(fam)] = (l, c, a)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('192.0.2.1', 0))
        out.append(str(u.getsockname()[1]))
        print(' '.join(out), flush=True)
        sys.stdin.readline()
        """;

    [Fact]
    public void TableParsing_FindsTheClientNotTheListenerOrTheAcceptedEnd()
    {
        // as in /proc/<pid>/net/tcp: a listener on 192.0.2.1:7000, the accepted end and the client end (port 40000)
        var table = Encoding.ASCII.GetBytes("""
              sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
               0: 010200C0:1B58 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
               1: 010200C0:1B58 010200C0:9C40 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 20 4 30 10 -1
               2: 010200C0:9C40 010200C0:1B58 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1
            """.Replace("\r", "", StringComparison.Ordinal));
        var client = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 40000);
        var server = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 7000);
        Assert.Equal(333UL, ForeignNamespaceSockets.TryFind(table, ProtocolType.Tcp, client, server));
        Assert.Equal(333UL, ForeignNamespaceSockets.TryFind(table, ProtocolType.Tcp, client, null));
        Assert.Null(ForeignNamespaceSockets.TryFind(table, ProtocolType.Tcp, client, new IPEndPoint(IPAddress.Parse("192.0.2.9"), 7000)));
        // by the server's port: the accepted end, never the listener
        Assert.Equal(222UL, ForeignNamespaceSockets.TryFind(table, ProtocolType.Tcp, new IPEndPoint(IPAddress.Parse("192.0.2.1"), 7000), null));
    }

    [SkippableFact]
    public async Task AClientInAnotherNamespace_IsFound_TcpV4V6AndUdp_WithItsStep()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        using var net = NetnsFixture.Create();
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "in-container", ["GITHUB_ACTION_REPOSITORY"] = "acme/build" };
        using var child = MonitorTest.Spawn("ip", env, "netns", "exec", net.Runner, MonitorTest.Python, "-c", Client);
        try
        {
            var line = await child.StandardOutput.ReadLineAsync().WaitAsync(Wait);
            var ports = line?.Split(' ').Select(int.Parse).ToArray();
            Assert.True(ports is { Length: 5 }, $"client: {line} {(child.HasExited ? await child.StandardError.ReadToEndAsync() : "")}");

            var v4 = monitor.Attributor.AttributeTcp(new IPEndPoint(NetnsFixture.RunnerV4, ports[0]), new IPEndPoint(NetnsFixture.RunnerV4, ports[1]));
            var v6 = monitor.Attributor.AttributeTcp(new IPEndPoint(NetnsFixture.RunnerV6, ports[2]), null);
            var udp = monitor.Attributor.AttributeUdp(new IPEndPoint(NetnsFixture.RunnerV4, ports[4]));
            foreach (var a in new[] { v4, v6, udp })
            {
                Assert.True(a.Process?.Pid == child.Id || ParentOf(a.Process?.Pid) == child.Id, $"found {a.Process?.Pid}, the client is {child.Id}");
                Assert.Contains("python3", a.Process?.Exe ?? "", StringComparison.Ordinal);
                Assert.Equal("in-container", a.Step?.Action);
                Assert.Equal("acme/build", a.Step?.Uses);
            }

            // an address nobody in any namespace holds: unknown, not a guess
            Assert.Null(monitor.Attributor.AttributeTcp(new IPEndPoint(NetnsFixture.RunnerV4, 1), null).Process);
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
        }
    }

    /// <summary>'ip netns exec' execs python in place (same pid); a parent pid otherwise.</summary>
    private static int? ParentOf(int? pid) =>
        pid is { } p && ProcFs.TryReadStat(p, out var ppid, out _, out _) ? ppid : null;
}
