using System.Globalization;
using System.Runtime.InteropServices;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.LabBench;

internal sealed record HttpsScenarioOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>h2load's own warm-up before its measured period.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Load per tool (wrk keep-alive, wrk new connections, h2load) after a path starts and before anything
    /// is measured: a freshly started .NET process spends its first seconds in the JIT (tiered compilation and PGO).</summary>
    public TimeSpan PathWarmup { get; init; } = TimeSpan.FromSeconds(5);

    public int Repetitions { get; init; } = 3;

    public int Connections { get; init; } = 50;

    public int Threads { get; init; } = 2;

    public int Http2Streams { get; init; } = 10;

    public long DownloadBytes { get; init; } = 100L << 20;

    public int Downloads { get; init; } = 3;

    public int FirstRequests { get; init; } = 5;

    /// <summary>Also measure Squid (squid-openssl, ssl_bump bump all) intercepting the same flows.</summary>
    public bool Squid { get; init; }

    /// <summary>The harden-runner.dll to measure (default: the one this build of the repository produced).</summary>
    public string? ApplianceDll { get; init; }
}

/// <summary>
/// HTTPS through the appliance against the same lab web server reached directly, in one run: keep-alive HTTP/1.1 (wrk)
/// and HTTP/2 (h2load) requests/s with p50/p99, new TLS connections/s (wrk, Connection: close on every request),
/// 100 MiB downloads (curl, HTTP/2 and HTTP/1.1), the first request to a never-seen wildcard name (curl), and the
/// appliance's peak RSS. Each repetition measures every path in turn (the order rotates), starting the appliance
/// afresh and stopping it again so the direct path is really direct; the table shows medians.
/// </summary>
internal static class HttpsScenario
{
    private const string Url = "https://allowed.test/";

    public static async Task<int> RunAsync(HttpsScenarioOptions o, TextWriter output)
    {
        if (!LabEnvironment.CanRun)
        {
            await Console.Error.WriteLineAsync("the https scenario needs the lab: " + LabEnvironment.SkipReason).ConfigureAwait(false);
            return 2;
        }

        foreach (var tool in new[] { "wrk", "h2load", "curl" }.Concat(o.Squid ? ["squid"] : []))
        {
            if (!ToolExists(tool))
            {
                await Console.Error.WriteLineAsync($"the https scenario needs '{tool}' (apt-get install wrk nghttp2-client curl{(o.Squid ? " squid-openssl" : "")})").ConfigureAwait(false);
                return 2;
            }
        }

        var applianceDll = o.ApplianceDll ?? BuildOutput.HardenRunnerDll();
        var loadBefore = ProcessStats.LoadAverage();
        await using var lab = await TestLab.StartAsync(new LabOptions()).ConfigureAwait(false);
        var scratch = Path.Combine(lab.WorkDirectory, "https-bench");
        Directory.CreateDirectory(scratch);
        var clients = new HttpClients(lab, scratch);

        List<IHttpsPath> paths = [new DirectPath(lab), new AppliancePath(lab, applianceDll, Path.Combine(scratch, "appliance"))];
        if (o.Squid)
        {
            paths.Add(new SquidPath(lab));
        }

        try
        {
            return await MeasureAllAsync(lab, paths, clients, o, loadBefore, output).ConfigureAwait(false);
        }
        finally
        {
            foreach (var squid in paths.OfType<SquidPath>())
            {
                squid.Clean();
            }
        }
    }

    private static async Task<int> MeasureAllAsync(TestLab lab, List<IHttpsPath> paths, HttpClients clients, HttpsScenarioOptions o, string loadBefore, TextWriter output)
    {
        var serverPid = lab.LabInternetPid;

        var results = paths.ToDictionary(p => p.Name, _ => new PathResults());
        await output.WriteLineAsync($"lab {lab.Id}: {string.Join(", ", paths.Select(p => p.Name))}; {o.Repetitions} repetitions").ConfigureAwait(false);
        for (var rep = 1; rep <= o.Repetitions; rep++)
        {
            for (var k = 0; k < paths.Count; k++)
            {
                var path = paths[(k + rep - 1) % paths.Count];
                await MeasureAsync(path, results[path.Name], rep, clients, serverPid, o, output).ConfigureAwait(false);
            }
        }

        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync(Describe(o)).ConfigureAwait(false);
        await output.WriteLineAsync($"load average (1/5/15 min) at start: {loadBefore}, at end: {ProcessStats.LoadAverage()}").ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        await HttpsReport.WriteAsync(paths.Select(p => (p.Name, results[p.Name])).ToList(), o, output).ConfigureAwait(false);
        return 0;
    }

    private static async Task MeasureAsync(IHttpsPath path, PathResults r, int rep, HttpClients clients, int serverPid, HttpsScenarioOptions o, TextWriter output)
    {
        void Say(string line) => output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {rep} {path.Name,-9} {line}"));

        await path.StartAsync().ConfigureAwait(false);
        var stopped = false;
        try
        {
            // warm-up (not counted): JIT, pools, certificate cache for allowed.test
            await clients.WrkAsync(Url, o.Threads, o.Connections, o.PathWarmup, closeEachConnection: false).ConfigureAwait(false);
            await clients.WrkAsync(Url, o.Threads, o.Connections, o.PathWarmup, closeEachConnection: true).ConfigureAwait(false);
            if (path.SupportsHttp2)
            {
                await clients.H2loadAsync(Url, o.Threads, o.Connections, o.Http2Streams, o.PathWarmup, TimeSpan.Zero).ConfigureAwait(false);
            }

            var meter = CpuMeter.Start(path.Pid, serverPid);
            var w = await clients.WrkAsync(Url, o.Threads, o.Connections, o.Duration, closeEachConnection: false).ConfigureAwait(false);
            var run = new LoadRun(w.Rps, w.P50Ms, w.P99Ms, w.Requests, w.Errors, meter.Stop(), w.Requests);
            r.KeepAliveHttp1.Add(run);
            Say(Describe("keep-alive HTTP/1.1 (wrk)", run));

            if (path.SupportsHttp2)
            {
                meter = CpuMeter.Start(path.Pid, serverPid);
                var h = await clients.H2loadAsync(Url, o.Threads, o.Connections, o.Http2Streams, o.Duration, o.Warmup).ConfigureAwait(false);
                run = new LoadRun(h.Rps, h.P50Ms, h.P99Ms, h.Requests, h.Errors, meter.Stop(), (long)(h.Rps * (o.Duration + o.Warmup).TotalSeconds));
                r.KeepAliveHttp2.Add(run);
                Say(Describe("keep-alive HTTP/2 (h2load)", run));
            }

            meter = CpuMeter.Start(path.Pid, serverPid);
            w = await clients.WrkAsync(Url, o.Threads, o.Connections, o.Duration, closeEachConnection: true).ConfigureAwait(false);
            run = new LoadRun(w.Rps, w.P50Ms, w.P99Ms, w.Requests, w.Errors, meter.Stop(), w.Requests);
            r.NewConnections.Add(run);
            Say(Describe("new TLS connections (wrk, close)", run));

            var download = string.Create(CultureInfo.InvariantCulture, $"https://allowed.test/download/{o.DownloadBytes}");
            foreach (var http11 in new[] { false, true })
            {
                for (var i = 0; i < o.Downloads; i++)
                {
                    meter = CpuMeter.Start(path.Pid, serverPid);
                    var d = await clients.DownloadAsync(download, path.CurlTrust, http11).ConfigureAwait(false);
                    var t = new TransferRun(d.BytesPerSecond, d.HttpVersion, meter.Stop());
                    (http11 ? r.BulkHttp1 : r.BulkHttp2).Add(t);
                    Say(string.Create(CultureInfo.InvariantCulture, $"download {o.DownloadBytes >> 20} MiB HTTP/{d.HttpVersion}: {d.BytesPerSecond / 1e6:F1} MB/s"));
                }
            }

            for (var i = 0; i < o.FirstRequests; i++)
            {
                var name = $"n{rep}{i}-{Guid.NewGuid().ToString("N")[..10]}.allowed.test";
                var f = await clients.FirstRequestAsync($"https://{name}/", path.CurlTrust).ConfigureAwait(false);
                r.NeverSeen.Add(f);
                var single = await clients.FirstRequestAsync($"https://{name.Replace(".allowed.test", "s.allowed.test", StringComparison.Ordinal)}/", path.CurlSingleCaTrust).ConfigureAwait(false);
                r.NeverSeenSingleCa.Add(single);
                var k = await clients.FirstRequestAsync(Url, path.CurlTrust).ConfigureAwait(false);
                r.KnownHost.Add(k);
                Say(string.Create(CultureInfo.InvariantCulture, $"first request to {name}: {f.TotalMs:F1} ms (DNS {f.DnsMs:F1}, TCP {f.ConnectMs:F1}, TLS {f.TlsMs:F1}, first byte {f.FirstByteMs:F1}); trusting one CA {single.TotalMs:F1} ms; allowed.test on a new connection {k.TotalMs:F1} ms"));
            }

            stopped = true;
            if (await path.StopAsync().ConfigureAwait(false) is { } info)
            {
                r.Stops.Add(info);
                Say(string.Create(CultureInfo.InvariantCulture, $"peak RSS {info.PeakRssMiB:F1} MiB (RSS at stop {info.RssMiB:F1} MiB), {info.Events} events recorded ({info.DnsEvents} DNS)"));
            }
        }
        finally
        {
            if (!stopped)
            {
                await path.StopAsync().ConfigureAwait(false);
            }
        }
    }

    private static string Describe(string what, LoadRun run) => string.Create(
        CultureInfo.InvariantCulture,
        $"{what,-34} {run.RequestsPerSecond,9:F0} req/s  p50 {run.P50Ms:F2} ms  p99 {run.P99Ms:F2} ms  errors {run.Errors}  proxy {run.ProxyMicrosPerRequest:F0} µs/req  server {run.ServerMicrosPerRequest:F0} µs/req  machine busy {run.Cpu.MachineBusy:P0}");

    private static string Describe(HttpsScenarioOptions o)
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "?";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"machine: {cpu}, {Environment.ProcessorCount} cores, Linux {kernel}, {RuntimeInformation.FrameworkDescription}, build {BuildOutput.Configuration}, appliance {o.ApplianceDll ?? "from this build"}\n" +
            $"load: wrk -t{o.Threads} -c{o.Connections} -d{o.Duration.TotalSeconds:0}s --latency {Url} (and with -H 'Connection: close'); " +
            $"h2load -t{o.Threads} -c{o.Connections} -m{o.Http2Streams} -D {o.Duration.TotalSeconds:0} --warm-up-time {o.Warmup.TotalSeconds:0}; " +
            $"curl {o.DownloadBytes >> 20} MiB x{o.Downloads} per HTTP version; {o.FirstRequests} never-seen names; {o.PathWarmup.TotalSeconds:0} s of each load after a path starts, not measured; {o.Repetitions} repetitions");
    }

    private static bool ToolExists(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Concat(["/usr/sbin", "/sbin"]).Any(d => File.Exists(Path.Combine(d, tool)));
}

/// <summary>Everything measured on one path, over all repetitions.</summary>
internal sealed class PathResults
{
    public List<LoadRun> KeepAliveHttp1 { get; } = [];

    public List<LoadRun> KeepAliveHttp2 { get; } = [];

    public List<LoadRun> NewConnections { get; } = [];

    public List<TransferRun> BulkHttp2 { get; } = [];

    public List<TransferRun> BulkHttp1 { get; } = [];

    public List<FirstRequestRun> NeverSeen { get; } = [];

    public List<FirstRequestRun> NeverSeenSingleCa { get; } = [];

    public List<FirstRequestRun> KnownHost { get; } = [];

    public List<ProxyStopInfo> Stops { get; } = [];
}
