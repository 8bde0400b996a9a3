using System.Diagnostics;
using System.Globalization;
using System.Net;
using HardenRunner.Events;
using HardenRunner.Monitoring.Detectors;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.Monitoring;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// The proxy with the real process monitor's attributor, on loopback: requests, refusals and the sni-mismatch and
/// domain-fronting detections carry the client's pid, exe and step — looked up once per connection, at accept. The
/// clients (curl streaming an upload from stdin, python3 keeping its connection) hold their sockets until the test
/// has seen the events, so what is asserted is the attribution, not a race with the client's exit.
/// </summary>
public sealed class ProxyAttributionTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    // one connection (TLS with the given SNI, or plain), one request per "METHOD PATH HOST" argument, keep-alive;
    // prints each status, then holds the connection until a line arrives on stdin
    private const string Client = """
        import http.client, socket, ssl, sys
        port, tls, sni, ca, reqs = int(sys.argv[1]), sys.argv[2] == '1', sys.argv[3], sys.argv[4], sys.argv[5:]
        s = socket.create_connection(('127.0.0.1', port), timeout=10)
        if tls:
            s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=sni)
        c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        c.sock = s
        for r in reqs:
            m, p, h = r.split(' ')
            c.putrequest(m, p, skip_host=True, skip_accept_encoding=True)
            c.putheader('Host', h)
            c.putheader('Content-Length', '0')
            c.endheaders()
            resp = c.getresponse()
            resp.read()
            print(resp.status, flush=True)
        print('done', flush=True)
        sys.stdin.readline()
        """;

    private readonly MonitorTest.TempDir _dir = MonitorTest.CreateTempDir();

    public void Dispose() => _dir.Dispose();

    private static Task<ProxyHarness> StartAsync(ProxyMonitor monitor) =>
        ProxyHarness.StartAsync(TransparentProxyTests.Policy, EgressMode.Block, o => o with { Attributor = monitor.Monitor.Attributor });

    private string CaFile(ProxyHarness h)
    {
        var path = Path.Combine(_dir.Path, "proxy-ca.pem");
        File.WriteAllText(path, h.ProxyCa.Certificate.ExportCertificatePem());
        return path;
    }

    private async Task<(Process Child, List<string> Statuses)> PythonAsync(ProxyHarness h, bool tls, string sni, IDictionary<string, string?> env, params string[] requests)
    {
        var port = (tls ? h.Proxy.HttpsEndpoint : h.Proxy.HttpEndpoint).Port.ToString(CultureInfo.InvariantCulture);
        var child = MonitorTest.Spawn(MonitorTest.Python, env, ["-c", Client, port, tls ? "1" : "0", sni, CaFile(h), .. requests]);
        var statuses = new List<string>();
        try
        {
            while (await child.StandardOutput.ReadLineAsync().WaitAsync(Wait) is { } line && line != "done")
            {
                statuses.Add(line);
            }

            Assert.Equal(requests.Length, statuses.Count);
            return (child, statuses);
        }
        catch
        {
            MonitorTest.Kill(child);
            throw;
        }
    }

    private static void AssertClient(ProcessInfo? process, StepInfo? step, Process child, string exe, StepInfo expected)
    {
        Assert.NotNull(process);
        Assert.Equal(child.Id, process.Pid);
        Assert.StartsWith(exe, Path.GetFileName(process.Exe), StringComparison.Ordinal);
        Assert.Equal(Environment.ProcessId, process.Ancestors[0].Pid);
        Assert.Equal(expected, step);
    }

    private static T WaitFor<T>(ProxyHarness h, Func<T, bool> match)
        where T : ApplianceEvent
    {
        Assert.True(SpinWait.SpinUntil(() => h.Events.All.OfType<T>().Any(match), Wait), "events so far: " + string.Join("; ", h.Events.All));
        return h.Events.All.OfType<T>().First(match);
    }

    [SkippableFact]
    public async Task Curl_StreamingUpload_RequestCarriesCurlsPidExeAndStep()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = new ProxyMonitor();
        await using var h = await StartAsync(monitor);
        h.Destinations.Default = h.HttpsTarget; // curl cannot register its port: every connection "was going" there
        var target = h.HttpsTarget.Port.ToString(CultureInfo.InvariantCulture);
        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "upload", ["GITHUB_ACTION_REPOSITORY"] = "actions/upload-artifact" };

        // -T - streams stdin: curl keeps the connection until stdin is closed
        using var curl = MonitorTest.Spawn("curl", env, "-sS", "--max-time", "30", "--cacert", CaFile(h), "--connect-to", $"allowed.test:{target}:127.0.0.1:{h.Proxy.HttpsEndpoint.Port}", "-T", "-", $"https://allowed.test:{target}/upload");
        try
        {
            var e = WaitFor<NetworkEvent>(h, n => n.Path == "/upload");
            Assert.Equal(("PUT", Decision.Allow, NetworkEvent.Passed), (e.Method, e.Decision, e.Action));
            AssertClient(e.Process, e.Step, curl, "curl", new StepInfo("upload", "actions/upload-artifact"));
            await curl.StandardInput.WriteAsync("payload");
            curl.StandardInput.Close();
            Assert.True(curl.WaitForExit(20_000));
            Assert.Equal(0, curl.ExitCode);
        }
        finally
        {
            MonitorTest.Kill(curl);
        }
    }

    [SkippableFact]
    public async Task Python_AllowedAndDeniedRequestsOnOneConnection_OneLookup_BothAttributed()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = new ProxyMonitor();
        await using var h = await StartAsync(monitor);
        h.Destinations.Default = h.HttpsTarget;
        var host = $"api.test:{h.HttpsTarget.Port}";
        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "__run", ["GITHUB_ACTION_REPOSITORY"] = "" };

        var (child, statuses) = await PythonAsync(h, true, "api.test", env, $"GET /repos/acme/web {host}", $"POST /gists/x {host}");
        try
        {
            Assert.Equal(["200", "403"], statuses);
            var allowed = WaitFor<NetworkEvent>(h, n => n.Path == "/repos/acme/web");
            var denied = WaitFor<NetworkEvent>(h, n => n.Path == "/gists/x");
            Assert.Equal((Decision.Deny, NetworkEvent.Blocked), (denied.Decision, denied.Action));
            AssertClient(allowed.Process, allowed.Step, child, "python", new StepInfo("__run", null));
            AssertClient(denied.Process, denied.Step, child, "python", new StepInfo("__run", null));
            Assert.Equal(1, h.Proxy.Attribution!.Lookups); // once per connection, reused for every request on it
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public async Task DomainFronting_AndSniMismatch_DetectionsCarryTheClientsProcessAndStep()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = new ProxyMonitor();
        await using var h = await StartAsync(monitor);
        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "sneaky", ["GITHUB_ACTION_REPOSITORY"] = "evil/action" };
        var step = new StepInfo("sneaky", "evil/action");

        // SNI allowed.test, Host api.test
        h.Destinations.Default = h.HttpsTarget;
        var (fronter, statuses) = await PythonAsync(h, true, "allowed.test", env, $"GET /x api.test:{h.HttpsTarget.Port}");
        try
        {
            Assert.Equal(["403"], statuses);
            var d = WaitFor<DetectionEvent>(h, x => x.Type == DetectionTypes.DomainFronting);
            AssertClient(d.Process, d.Step, fronter, "python", step);
            var e = WaitFor<NetworkEvent>(h, n => n.Path == "/x");
            AssertClient(e.Process, e.Step, fronter, "python", step);
        }
        finally
        {
            MonitorTest.Kill(fronter);
        }

        // an allowed name aimed at another address: the client's socket is not aimed at the original destination the
        // (fake) reader reports, so the lookup falls back to the proxy's own end — as for a connection made directly
        var attacker = await h.AddUpstreamAsync("attacker", IPAddress.Parse("127.0.0.2"));
        h.Destinations.Default = attacker.Https;
        var (aimer, aimed) = await PythonAsync(h, true, "allowed.test", env, $"GET /aimed allowed.test:{h.HttpsTarget.Port}");
        try
        {
            Assert.Equal(["200"], aimed);
            var d = WaitFor<DetectionEvent>(h, x => x.Type == DetectionTypes.SniMismatch);
            AssertClient(d.Process, d.Step, aimer, "python", step);
        }
        finally
        {
            MonitorTest.Kill(aimer);
        }
    }

    [SkippableFact]
    public async Task PlainHttp_RequestCarriesTheProcess()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        using var monitor = new ProxyMonitor();
        await using var h = await StartAsync(monitor);
        h.Destinations.Default = h.HttpTarget;
        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "fetch", ["GITHUB_ACTION_REPOSITORY"] = "" };

        var (child, statuses) = await PythonAsync(h, false, "", env, $"GET /plain allowed.test:{h.HttpTarget.Port}");
        try
        {
            Assert.Equal(["200"], statuses);
            var e = WaitFor<NetworkEvent>(h, n => n.Path == "/plain");
            Assert.Equal("http", e.Kind);
            AssertClient(e.Process, e.Step, child, "python", new StepInfo("fetch", null));
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    /// <summary>The process monitor the proxy's attributor comes from (its own sink: the proxy's events are the harness's).</summary>
    private sealed class ProxyMonitor : IDisposable
    {
        public HardenRunner.Monitoring.ProcessMonitor Monitor { get; } = MonitorTest.StartMonitor(new CollectingSink());

        public void Dispose() => Monitor.Dispose();
    }
}
