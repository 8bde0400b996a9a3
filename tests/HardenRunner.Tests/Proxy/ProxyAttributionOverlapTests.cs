using System.Globalization;
using System.Net;
using HardenRunner.Events;
using HardenRunner.Monitoring;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.Monitoring;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// The client's process lookup runs while the connection goes on (peek, decision, certificate, TLS, forwarding), and
/// the proxy's first answer to the client waits for it. The real process monitor's attributor is gated so that each
/// lookup only starts once the proxy has got past the step the old order made it wait for (the rejection decided, the
/// certificate minted), and then takes half a second more: far longer than curl needs to get its answer and exit.
/// curl is not held open by the test, so the events can only name it if the answer waited for the lookup.
/// </summary>
public sealed class ProxyAttributionOverlapTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private readonly MonitorTest.TempDir _dir = MonitorTest.CreateTempDir();

    public void Dispose() => _dir.Dispose();

    [SkippableFact]
    public async Task RejectedConnection_AndAllowedRequest_NamedAfterTheOverlappedLookup()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = MonitorTest.StartMonitor(new CollectingSink());
        var gate = new GatedAttributor(monitor.Attributor, TimeSpan.FromMilliseconds(500));
        // a generous bound: this test is about where the proxy waits, not how long
        await using var h = await ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Block, o => o with { Attributor = gate, AttributionWait = TimeSpan.FromSeconds(10) });
        h.Destinations.Default = h.HttpsTarget;
        var ca = Path.Combine(_dir.Path, "proxy-ca.pem");
        await File.WriteAllTextAsync(ca, h.ProxyCa.Certificate.ExportCertificatePem());
        var target = h.HttpsTarget.Port.ToString(CultureInfo.InvariantCulture);
        var proxy = h.Proxy.HttpsEndpoint.Port.ToString(CultureInfo.InvariantCulture);

        // a denied name: the lookup starts once the rejection has been decided (logged), then the client gets its alert
        gate.Ready = () => h.Logs.Lines.Any(l => l.Contains("rejected TLS connection for denied.test", StringComparison.Ordinal));
        var (denied, deniedExit) = await CurlAsync("-sS", "--max-time", "30", "--cacert", ca, "--connect-to", $"denied.test:{target}:127.0.0.1:{proxy}", $"https://denied.test:{target}/");
        Assert.NotEqual(0, deniedExit); // the TLS alert
        var rejected = WaitFor(h, n => n.Host == "denied.test");
        Assert.Equal((Decision.Deny, NetworkEvent.Blocked), (rejected.Decision, rejected.Action));
        AssertCurl(rejected, denied);

        // an allowed request: the lookup starts once the certificate for allowed.test is minted (the handshake is on)
        var minted = h.ProxyCa.Minted;
        gate.Ready = () => h.ProxyCa.Minted > minted;
        var (allowed, allowedExit) = await CurlAsync("-sS", "--fail", "--max-time", "30", "--cacert", ca, "--connect-to", $"allowed.test:{target}:127.0.0.1:{proxy}", $"https://allowed.test:{target}/overlap");
        Assert.Equal(0, allowedExit);
        var request = WaitFor(h, n => n.Path == "/overlap");
        Assert.Equal((Decision.Allow, NetworkEvent.Passed), (request.Decision, request.Action));
        AssertCurl(request, allowed);

        // both lookups began only after the step the proxy used to wait in front of: the wait overlapped it
        // (a lookup may try two peers: the original destination, then the proxy's own end — curl here dialled the proxy)
        Assert.True(gate.ReadyBeforeLookup.Count >= 2);
        Assert.All(gate.ReadyBeforeLookup, Assert.True);
        Assert.Equal(2, h.Proxy.Attribution!.Lookups);
    }

    private static async Task<(int Pid, int ExitCode)> CurlAsync(params string[] args)
    {
        using var curl = MonitorTest.Spawn("curl", new Dictionary<string, string?> { ["GITHUB_ACTION"] = "overlap", ["GITHUB_ACTION_REPOSITORY"] = "" }, args);
        try
        {
            curl.StandardInput.Close();
            await curl.WaitForExitAsync().WaitAsync(Wait);
            return (curl.Id, curl.ExitCode);
        }
        finally
        {
            MonitorTest.Kill(curl);
        }
    }

    private static NetworkEvent WaitFor(ProxyHarness h, Func<NetworkEvent, bool> match)
    {
        Assert.True(SpinWait.SpinUntil(() => h.Events.All.OfType<NetworkEvent>().Any(match), Wait), "events so far: " + string.Join("; ", h.Events.All));
        return h.Events.All.OfType<NetworkEvent>().First(match);
    }

    private static void AssertCurl(NetworkEvent e, int pid)
    {
        Assert.NotNull(e.Process);
        Assert.Equal(pid, e.Process.Pid);
        Assert.StartsWith("curl", Path.GetFileName(e.Process.Exe), StringComparison.Ordinal);
        Assert.Equal(new StepInfo("overlap", null), e.Step);
    }

    /// <summary>
    /// The real attributor, whose TCP lookups first wait (bounded) for <see cref="Ready"/> and then for
    /// <paramref name="delay"/>: a lookup that is slow, and that provably runs while the proxy goes on.
    /// </summary>
    private sealed class GatedAttributor(IProcessAttributor inner, TimeSpan delay) : IProcessAttributor
    {
        private static readonly TimeSpan ReadyLimit = TimeSpan.FromSeconds(5);

        public Func<bool> Ready { get; set; } = () => true;

        public List<bool> ReadyBeforeLookup { get; } = [];

        public Attribution AttributeTcp(IPEndPoint client, IPEndPoint? originalDestination)
        {
            var ready = SpinWait.SpinUntil(Ready, ReadyLimit);
            lock (ReadyBeforeLookup)
            {
                ReadyBeforeLookup.Add(ready);
            }

            Thread.Sleep(delay);
            return inner.AttributeTcp(client, originalDestination);
        }

        public Attribution AttributeUdp(IPEndPoint client, IPEndPoint? destination = null, IPEndPoint? alternate = null) => inner.AttributeUdp(client, destination, alternate);

        public Attribution AttributePid(int pid) => inner.AttributePid(pid);
    }
}
