using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.LabBench;

internal sealed record DnsScenarioOptions
{
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);

    public int Repetitions { get; init; } = 3;

    public int Concurrency { get; init; } = 64;

    public int Names { get; init; } = DnsQueries.DefaultNameCount;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The appliance to measure: a harden-runner.dll or a published executable; default this build's .dll.</summary>
    public string? Appliance { get; init; }

    /// <summary>Also measure every target with dnsperf (when installed), as a cross-check of the C# client.</summary>
    public bool Dnsperf { get; init; }

    /// <summary>Also measure the DnsServer alone (this program's serve-dns: no firewall, events dropped or written as JSON lines).</summary>
    public bool Breakdown { get; init; }
}

/// <summary>
/// DNS queries/s for allowed, cached names: the appliance (block mode, a policy allowing every name) against dnsmasq
/// as the reference cache, both inside the same lab's runner namespace, both warmed, measured by the same bounded
/// load client (<see cref="UdpLoadClient"/>) running in that namespace. Targets are measured in turn within each
/// repetition, so drift hits all alike; the table shows medians.
/// </summary>
internal static class DnsScenario
{
    private const int DnsmasqPort = 5300; // not 53: the appliance's firewall redirects every port-53 packet to itself
    private const int AppliancePort = 53530;
    private const int BarePort = 5301;
    private const int BareJsonlPort = 5302;
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);

    public static async Task<int> RunAsync(DnsScenarioOptions o, TextWriter output)
    {
        if (!LabEnvironment.CanRun)
        {
            await Console.Error.WriteLineAsync("the dns scenario needs the lab: " + LabEnvironment.SkipReason).ConfigureAwait(false);
            return 2;
        }

        var appliance = o.Appliance ?? BuildOutput.HardenRunnerDll();
        var loadBefore = Machine.LoadAverage();
        var self = typeof(DnsScenario).Assembly.Location;
        var labOptions = new LabOptions();
        for (var i = 0; i < o.Names; i++)
        {
            // long TTLs: no entry may expire during the run (both caches would then measure forwarding)
            labOptions.DnsRecords.Add(new LabDnsRecord(DnsQueries.Name(i), "A", string.Create(CultureInfo.InvariantCulture, $"198.51.100.{100 + (i % 100)}"), 86400));
        }

        await using var lab = await TestLab.StartAsync(labOptions).ConfigureAwait(false);
        var client = new ClientRunner(lab, self, o);

        await output.WriteLineAsync($"lab {lab.Id}: starting dnsmasq on 127.0.0.1:{DnsmasqPort} and warming it").ConfigureAwait(false);
        var dnsmasq = lab.StartInRunner("dnsmasq",
        [
            "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--server=" + lab.DnsV4,
            "--listen-address=127.0.0.1", "--port=" + DnsmasqPort.ToString(CultureInfo.InvariantCulture), "--bind-interfaces",
            "--cache-size=10000", "--log-facility=-", "--pid-file=" + Path.Combine(lab.WorkDirectory, "dnsmasq.pid"),
        ]);
        await client.WarmAsync($"127.0.0.1:{DnsmasqPort}", dnsmasq).ConfigureAwait(false);

        var dir = Path.Combine(lab.WorkDirectory, "appliance");
        Directory.CreateDirectory(dir);
        var policy = new StringBuilder("egress-policy: block\nallowed-endpoints:\n");
        foreach (var name in DnsQueries.Names(o.Names))
        {
            policy.Append("  - ").Append(name).Append(":443\n");
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "policy.yml"), policy.ToString()).ConfigureAwait(false);
        LabProcess? bare = null, bareJsonl = null;
        if (o.Breakdown)
        {
            // started and warmed before the appliance: their upstream queries must not be redirected to it
            await output.WriteLineAsync($"starting the DnsServer alone on 127.0.0.1:{BarePort} (events dropped) and :{BareJsonlPort} (JSON-lines events)").ConfigureAwait(false);
            string[] Serve(int port, params string[] extra) => [self, "serve-dns", "--port", port.ToString(CultureInfo.InvariantCulture), "--policy", Path.Combine(dir, "policy.yml"), "--upstream", lab.DnsV4 + ":53", .. extra];
            bare = lab.StartInRunner("dotnet", Serve(BarePort));
            bareJsonl = lab.StartInRunner("dotnet", Serve(BareJsonlPort, "--events", Path.Combine(dir, "bare-events.jsonl")));
            await client.WarmAsync($"127.0.0.1:{BarePort}", bare).ConfigureAwait(false);
            await client.WarmAsync($"127.0.0.1:{BareJsonlPort}", bareJsonl).ConfigureAwait(false);
        }

        await output.WriteLineAsync("starting the appliance (block mode) and warming it").ConfigureAwait(false);
        var ready = Path.Combine(dir, "ready");
        var state = Path.Combine(dir, "state");
        var (file, arguments) = BuildOutput.Command(appliance, "run", "--policy", Path.Combine(dir, "policy.yml"), "--state-dir", state, "--ready-file", ready, "--upstream-dns", lab.DnsV4.ToString());
        var harden = lab.StartInRunner(file, arguments);
        var watch = Stopwatch.StartNew();
        while (!File.Exists(ready))
        {
            if (harden.HasExited || watch.Elapsed > ReadyTimeout)
            {
                throw new InvalidOperationException("the appliance did not become ready:\n" + await harden.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false));
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        await client.WarmAsync($"127.0.0.1:{AppliancePort}", harden).ConfigureAwait(false);
        await client.WarmAsync("127.0.0.1:53", harden).ConfigureAwait(false); // the redirect reaches the same server and cache

        (string Label, string Target, int Pid)[] targets =
        [
            ("dnsmasq 2.90 (127.0.0.1:5300)", $"127.0.0.1:{DnsmasqPort}", dnsmasq.Pid),
            ($"appliance direct (127.0.0.1:{AppliancePort})", $"127.0.0.1:{AppliancePort}", harden.Pid),
            ("appliance via nft redirect (127.0.0.1:53)", "127.0.0.1:53", harden.Pid),
            .. bare is not null && bareJsonl is not null
                ? new[] { ($"DnsServer alone, events dropped (:{BarePort})", $"127.0.0.1:{BarePort}", bare.Pid), ($"DnsServer alone + JSON-lines events (:{BareJsonlPort})", $"127.0.0.1:{BareJsonlPort}", bareJsonl.Pid) }
                : [],
        ];
        var results = targets.ToDictionary(t => t.Target, _ => new List<LoadResult>());
        var cpu = targets.ToDictionary(t => t.Target, _ => new List<double>());
        var dnsperf = o.Dnsperf ? targets.ToDictionary(t => t.Target, _ => new List<LoadResult>()) : null;
        for (var rep = 1; rep <= o.Repetitions; rep++)
        {
            foreach (var (label, target, pid) in targets)
            {
                var cpuBefore = CpuSeconds(pid);
                var r = await client.LoadAsync(target).ConfigureAwait(false);
                var perQuery = (CpuSeconds(pid) - cpuBefore) * 1e6 / Math.Max(1, r.AnsweredInAll);
                results[target].Add(r);
                cpu[target].Add(perQuery);
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  run {rep} {label,-45} {r.QueriesPerSecond,10:F0} q/s  p50 {r.P50Ms:F3} ms  p99 {r.P99Ms:F3} ms  server CPU {perQuery:F1} µs/query  timeouts {r.Timeouts}  errors {r.Errors}  stale {r.Stale}")).ConfigureAwait(false);
                if (dnsperf is not null)
                {
                    var d = await client.DnsperfAsync(target).ConfigureAwait(false);
                    dnsperf[target].Add(d);
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  run {rep} {label,-45} {d.QueriesPerSecond,10:F0} q/s  avg {d.AvgMs:F3} ms  lost {d.Timeouts}  (dnsperf)")).ConfigureAwait(false);
                }
            }
        }

        harden.Terminate();
        // the stop writes the reports of a run of millions of events (about a minute on this machine)
        var stopped = await harden.WaitAsync(TimeSpan.FromSeconds(300)).ConfigureAwait(false);
        // the store is the record (events.jsonl is off by default): what it holds, and what the appliance counted lost
        var (events, lost) = await StoredEventsAsync(state, (await File.ReadAllTextAsync(ready).ConfigureAwait(false)).Trim()).ConfigureAwait(false);
        dnsmasq.Terminate();
        await dnsmasq.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);

        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync(Machine.Describe(o)).ConfigureAwait(false);
        await output.WriteLineAsync($"load average (1/5/15 min) at start: {loadBefore}, at end: {Machine.LoadAverage()} (other work on the machine competes for its cores)").ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("| target | queries/s (median) | runs | p50 ms | p99 ms | server CPU µs/query | timeouts | errors |").ConfigureAwait(false);
        await output.WriteLineAsync("|---|---:|---|---:|---:|---:|---:|---:|").ConfigureAwait(false);
        foreach (var (label, target, _) in targets)
        {
            var runs = results[target];
            var cpuMedian = cpu[target].Order().ElementAt(cpu[target].Count / 2);
            await output.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"| {label} | {Median(runs, r => r.QueriesPerSecond):F0} | {string.Join(" / ", runs.Select(r => r.QueriesPerSecond.ToString("F0", CultureInfo.InvariantCulture)))} | {Median(runs, r => r.P50Ms):F3} | {Median(runs, r => r.P99Ms):F3} | {cpuMedian:F1} | {runs.Sum(r => r.Timeouts)} | {runs.Sum(r => r.Errors)} |")).ConfigureAwait(false);
        }

        if (dnsperf is not null)
        {
            foreach (var (label, target, _) in targets)
            {
                var runs = dnsperf[target];
                await output.WriteLineAsync(string.Create(
                    CultureInfo.InvariantCulture,
                    $"| {label}, dnsperf | {Median(runs, r => r.QueriesPerSecond):F0} | {string.Join(" / ", runs.Select(r => r.QueriesPerSecond.ToString("F0", CultureInfo.InvariantCulture)))} | avg {Median(runs, r => r.AvgMs):F3} | – | {runs.Sum(r => r.Timeouts)} | {runs.Sum(r => r.Errors)} |")).ConfigureAwait(false);
            }
        }

        var reference = Median(results[targets[0].Target], r => r.QueriesPerSecond);
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"ratio appliance/dnsmasq: direct {Median(results[targets[1].Target], r => r.QueriesPerSecond) / reference:F2}x, via redirect {Median(results[targets[2].Target], r => r.QueriesPerSecond) / reference:F2}x")).ConfigureAwait(false);
        if (dnsperf is not null)
        {
            var dnsperfReference = Median(dnsperf[targets[0].Target], r => r.QueriesPerSecond);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"ratio appliance/dnsmasq (dnsperf): direct {Median(dnsperf[targets[1].Target], r => r.QueriesPerSecond) / dnsperfReference:F2}x, via redirect {Median(dnsperf[targets[2].Target], r => r.QueriesPerSecond) / dnsperfReference:F2}x")).ConfigureAwait(false);
        }

        var answered = results[targets[1].Target].Concat(results[targets[2].Target]).Sum(r => r.Sent);
        await output.WriteLineAsync($"appliance: exit {stopped.ExitCode}, {events} events in its store and {lost} counted lost (one per query, warm-up included; the measured runs sent {answered})").ConfigureAwait(false);
        return 0;
    }

    /// <summary>The run's events in the appliance's store, and the events it recorded as lost.</summary>
    private static async Task<(long Events, long Lost)> StoredEventsAsync(string state, string runId)
    {
        var path = HardenRunner.Store.SqliteEventStore.PathIn(state);
        if (!File.Exists(path))
        {
            return (0, 0);
        }

        await using var store = HardenRunner.Store.SqliteEventStore.Open(path);
        var run = await store.GetRunAsync(runId).ConfigureAwait(false);
        return (await store.CountEventsAsync(runId).ConfigureAwait(false), run?.EventsLost ?? -1);
    }

    private static double Median(List<LoadResult> runs, Func<LoadResult, double> value)
    {
        var sorted = runs.Select(value).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>User + system CPU time of a process so far (/proc/PID/stat, clock ticks of 1/100 s).</summary>
    private static double CpuSeconds(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>Runs this program's client modes inside the lab's runner namespaces.</summary>
    private sealed class ClientRunner(TestLab lab, string self, DnsScenarioOptions o)
    {
        private string[] Common(string target) =>
        [
            self, "--target", target,
            "--names", o.Names.ToString(CultureInfo.InvariantCulture),
            "--concurrency", o.Concurrency.ToString(CultureInfo.InvariantCulture),
            "--timeout-ms", o.Timeout.TotalMilliseconds.ToString(CultureInfo.InvariantCulture),
        ];

        /// <summary>Asks every name until all are answered (the server may still be starting): bounded to 10 rounds.</summary>
        public async Task WarmAsync(string target, LabProcess server)
        {
            WarmResult? last = null;
            for (var round = 0; round < 10; round++)
            {
                if (server.HasExited)
                {
                    throw new InvalidOperationException($"the server for {target} exited:\n{server.StandardError}");
                }

                var args = Common(target);
                var run = await lab.RunInRunnerAsync("dotnet", [args[0], "warm", .. args[1..]], TimeSpan.FromSeconds(60)).ConfigureAwait(false);
                last = run.Succeeded ? JsonSerializer.Deserialize(LastLine(run.StandardOutput), BenchJsonContext.Default.WarmResult) : null;
                if (last is { Failed.Count: 0 })
                {
                    return;
                }

                await Task.Delay(500).ConfigureAwait(false);
            }

            throw new InvalidOperationException($"could not warm {target}: {(last is null ? "client failed" : string.Join(", ", last.Failed.Take(5)))}");
        }

        public async Task<LoadResult> LoadAsync(string target)
        {
            var args = Common(target);
            var run = await lab.RunInRunnerAsync(
                "dotnet",
                [args[0], "udp-load", .. args[1..], "--duration", o.Duration.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--warmup", o.Warmup.TotalSeconds.ToString(CultureInfo.InvariantCulture)],
                o.Warmup + o.Duration + TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            if (!run.Succeeded)
            {
                throw new InvalidOperationException($"the load client failed against {target}:\n{run}");
            }

            return JsonSerializer.Deserialize(LastLine(run.StandardOutput), BenchJsonContext.Default.LoadResult)!;
        }

        /// <summary>The same load with dnsperf (C, separate send/receive threads): -q outstanding, one client socket, a warm-up run first.</summary>
        public async Task<LoadResult> DnsperfAsync(string target)
        {
            var file = Path.Combine(lab.WorkDirectory, "dnsperf-queries.txt");
            if (!File.Exists(file))
            {
                await File.WriteAllLinesAsync(file, DnsQueries.Names(o.Names).Select(n => n + " A")).ConfigureAwait(false);
            }

            var endpoint = System.Net.IPEndPoint.Parse(target);
            string[] Args(TimeSpan length) =>
            [
                "-s", endpoint.Address.ToString(), "-p", endpoint.Port.ToString(CultureInfo.InvariantCulture), "-d", file,
                "-l", length.TotalSeconds.ToString(CultureInfo.InvariantCulture), "-q", o.Concurrency.ToString(CultureInfo.InvariantCulture),
                "-c", "1", "-T", "1", "-t", o.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture),
            ];
            await lab.RunInRunnerAsync("dnsperf", Args(o.Warmup), o.Warmup + TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            var run = await lab.RunInRunnerAsync("dnsperf", Args(o.Duration), o.Duration + TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            if (!run.Succeeded)
            {
                throw new InvalidOperationException($"dnsperf failed against {target}:\n{run}");
            }

            double Field(string prefix)
            {
                var line = run.StandardOutput.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal))
                    ?? throw new InvalidOperationException($"dnsperf printed no '{prefix}':\n{run.StandardOutput}");
                return double.Parse(line[prefix.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }

            var completed = (long)Field("Queries completed:");
            return new LoadResult(target, o.Duration.TotalSeconds, (long)Field("Queries sent:"), completed, 0, (long)Field("Queries lost:"), 0, Field("Queries per second:"), double.NaN, double.NaN, Field("Average Latency (s):") * 1000);
        }

        private static string LastLine(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[^1];
    }
}

/// <summary>Where the build put harden-runner.dll (the same configuration as this benchmark).</summary>
internal static class BuildOutput
{
    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;

    public static string HardenRunnerDll()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HardenRunner.sln")))
        {
            dir = dir.Parent;
        }

        var dll = dir is null ? null : Path.Combine(dir.FullName, "src", "HardenRunner.Cli", "bin", Configuration, "net10.0", "harden-runner.dll");
        return dll is not null && File.Exists(dll) ? dll : throw new InvalidOperationException($"harden-runner.dll ({Configuration}) is missing: build the solution first");
    }

    /// <summary>How to start an appliance: a .dll under <c>dotnet</c>, anything else (the Native AOT executable) as itself.</summary>
    public static (string FileName, string[] Arguments) Command(string appliance, params IEnumerable<string> arguments) =>
        appliance.EndsWith(".dll", StringComparison.Ordinal) ? ("dotnet", [appliance, .. arguments]) : (appliance, [.. arguments]);
}

/// <summary>The machine and settings, for the results.</summary>
internal static class Machine
{
    public static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

    public static string Describe(DnsScenarioOptions o)
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "?";
        var kernel = File.Exists("/proc/sys/kernel/osrelease") ? File.ReadAllText("/proc/sys/kernel/osrelease").Trim() : "?";
        return string.Create(
            CultureInfo.InvariantCulture,
            $"machine: {cpu}, {Environment.ProcessorCount} cores, Linux {kernel}, {RuntimeInformation.FrameworkDescription}, build {BuildOutput.Configuration}, appliance {o.Appliance ?? "from this build"}\n" +
            $"load: {o.Concurrency} outstanding UDP queries (A, no EDNS) over {o.Names} names, {o.Warmup.TotalSeconds:0.#} s warm-up + {o.Duration.TotalSeconds:0.#} s measured per run, {o.Repetitions} repetitions, timeout {o.Timeout.TotalMilliseconds:0} ms");
    }
}
