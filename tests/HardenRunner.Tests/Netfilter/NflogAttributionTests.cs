using System.Runtime.Versioning;
using HardenRunner.Events;
using HardenRunner.Monitoring;
using HardenRunner.Netfilter;
using HardenRunner.Netfilter.Nflog;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.Monitoring;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>
/// NFLOG-denied flows with the real process monitor's attributor, in a test-made runner namespace: the logged
/// packet's source address and port are the client's socket, looked up in the runner's namespace. The client (python3
/// inside the namespace) keeps its sockets until the test has seen the events.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class NflogAttributionTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    // a UDP datagram to 9001 and non-blocking TCP connects to 9000 (v4, v6); prints 'done' and holds the sockets
    private const string Client = """
        import socket, sys
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.sendto(b'exfil', ('192.0.2.2', 9001))
        except PermissionError:
            pass  # the drop in the output hook refuses the send (EPERM); the packet was logged
        t4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t4.setblocking(False)
        t4.connect_ex(('192.0.2.2', 9000))
        t6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); t6.setblocking(False)
        t6.connect_ex(('2001:db8::2', 9000))
        print('done', flush=True)
        sys.stdin.readline()
        """;

    [SkippableFact]
    public async Task Block_DeniedTcpAndUdpFlows_CarryTheSendersPidExeAndStep()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        using var net = NetnsFixture.Create();
        using var monitor = MonitorTest.StartMonitor(new CollectingSink(), new ProcessMonitorOptions
        {
            PollInterval = TimeSpan.FromMilliseconds(200),
            SocketNetworkNamespace = "/run/netns/" + net.Runner, // the sockets live in the runner's namespace
        });
        var sink = new CapturingSink();
        var options = FirewallLab.Options(EgressMode.Block);
        using var nft = new LibNftables(net.Runner);
        await using var firewall = new Firewall(options, nft, sink);
        using var reader = NflogReader.Start(options.NflogGroup, sink, net.Runner, attributor: monitor.Attributor);
        await firewall.ApplyAsync();

        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "exfil", ["GITHUB_ACTION_REPOSITORY"] = "evil/action" };
        using var child = MonitorTest.Spawn("ip", env, "netns", "exec", net.Runner, MonitorTest.Python, "-c", Client);
        try
        {
            var line = await child.StandardOutput.ReadLineAsync().WaitAsync(Wait);
            Assert.True(line == "done", $"client: {line} {(child.HasExited ? await child.StandardError.ReadToEndAsync() : "")}");
            foreach (var (kind, address, port) in new[] { ("udp", "192.0.2.2", 9001), ("tcp", "192.0.2.2", 9000), ("tcp", "2001:db8::2", 9000) })
            {
                var e = await sink.WaitForAsync<NetworkEvent>(n => n.Kind == kind && n.Address == address && n.Port == port, Wait);
                Assert.NotNull(e);
                Assert.Equal((Decision.Deny, NetworkEvent.Blocked), (e.Decision, e.Action));
                Assert.NotNull(e.Process);
                Assert.Equal(child.Id, e.Process.Pid); // ip netns exec execs the program in place
                Assert.StartsWith("python", Path.GetFileName(e.Process.Exe), StringComparison.Ordinal);
                Assert.Equal(new StepInfo("exfil", "evil/action"), e.Step);
            }

            Assert.True(reader.Attribution!.Found >= 3);
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }
}
