using System.Globalization;

namespace HardenRunner.LabBench;

/// <summary>The https scenario's tables (Markdown): medians, ratios to direct, the issue's targets, the CPU breakdown.</summary>
internal static class HttpsReport
{
    public static async Task WriteAsync(IReadOnlyList<(string Name, PathResults Results)> paths, HttpsScenarioOptions o, TextWriter output)
    {
        var direct = paths[0].Results;
        var proxies = paths.Skip(1).ToList();
        var header = "| measurement | direct | " + string.Join(" | ", proxies.Select(p => $"{p.Name} | {p.Name} / direct")) + " | target (appliance) |";
        await output.WriteLineAsync(header).ConfigureAwait(false);
        await output.WriteLineAsync("|---|---:|" + string.Concat(proxies.Select(_ => "---:|---:|")) + "---|").ConfigureAwait(false);

        async Task Row(string what, Func<PathResults, double> value, string format, bool ratio, string target)
        {
            var reference = value(direct);
            var cells = proxies.Select(p =>
            {
                var v = value(p.Results);
                return Text(v, format) + " | " + (ratio && !double.IsNaN(v) ? Text(v / reference, "F2") + "×" : "–");
            });
            await output.WriteLineAsync($"| {what} | {Text(reference, format)} | {string.Join(" | ", cells)} | {target} |").ConfigureAwait(false);
        }

        var c = o.Connections;
        await Row($"keep-alive HTTP/1.1 req/s (wrk, {c} conns)", r => Median(r.KeepAliveHttp1, x => x.RequestsPerSecond), "F0", true, "≥ 0.4×").ConfigureAwait(false);
        await Row("  p50 ms", r => Median(r.KeepAliveHttp1, x => x.P50Ms), "F2", false, "≤ 3 ms").ConfigureAwait(false);
        await Row("  p99 ms", r => Median(r.KeepAliveHttp1, x => x.P99Ms), "F2", false, "").ConfigureAwait(false);
        await Row($"keep-alive HTTP/2 req/s (h2load, {c} conns × {o.Http2Streams} streams)", r => Median(r.KeepAliveHttp2, x => x.RequestsPerSecond), "F0", true, "≥ 0.4×").ConfigureAwait(false);
        await Row("  p50 ms", r => Median(r.KeepAliveHttp2, x => x.P50Ms), "F2", false, "≤ 3 ms").ConfigureAwait(false);
        await Row("  p99 ms", r => Median(r.KeepAliveHttp2, x => x.P99Ms), "F2", false, "").ConfigureAwait(false);
        await Row($"new TLS connections/s (wrk, Connection: close, {c} conns)", r => Median(r.NewConnections, x => x.RequestsPerSecond), "F0", true, "≥ 0.85×").ConfigureAwait(false);
        await Row($"{o.DownloadBytes >> 20} MiB download MB/s, HTTP/2 (curl)", r => Median(r.BulkHttp2, x => x.BytesPerSecond / 1e6), "F1", true, "≥ 0.6×").ConfigureAwait(false);
        await Row($"{o.DownloadBytes >> 20} MiB download MB/s, HTTP/1.1 (curl)", r => Median(r.BulkHttp1, x => x.BytesPerSecond / 1e6), "F1", true, "≥ 0.6×").ConfigureAwait(false);
        await Row("first request to a never-seen host, ms (curl trusting one CA: the lab's, the proxy's)", r => Median(r.NeverSeenSingleCa, x => x.TotalMs), "F1", false, "≤ 8 ms").ConfigureAwait(false);
        await Row("  same, curl with the job's trust (direct: the lab CA; appliance: the system store)", r => Median(r.NeverSeen, x => x.TotalMs), "F1", false, "").ConfigureAwait(false);
        await Row("request to allowed.test on a new connection, ms (curl)", r => Median(r.KnownHost, x => x.TotalMs), "F1", false, "").ConfigureAwait(false);
        await Row("proxy peak RSS MiB (VmHWM, max over runs)", r => r.Stops.Count == 0 ? double.NaN : r.Stops.Max(x => x.PeakRssMiB), "F1", false, "≤ 120 MiB").ConfigureAwait(false);

        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("CPU (medians): µs of CPU per request in the proxy and in the lab web server; the machine's busy share (both cores)").ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("| load | path | proxy µs/req | server µs/req | machine busy |").ConfigureAwait(false);
        await output.WriteLineAsync("|---|---|---:|---:|---:|").ConfigureAwait(false);
        foreach (var (load, select) in new (string, Func<PathResults, List<LoadRun>>)[] { ("keep-alive HTTP/1.1", r => r.KeepAliveHttp1), ("keep-alive HTTP/2", r => r.KeepAliveHttp2), ("new TLS connections", r => r.NewConnections) })
        {
            foreach (var (name, results) in paths)
            {
                var runs = select(results);
                if (runs.Count > 0)
                {
                    await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"| {load} | {name} | {Median(runs, x => x.ProxyMicrosPerRequest):F0} | {Median(runs, x => x.ServerMicrosPerRequest):F0} | {Median(runs, x => x.Cpu.MachineBusy):P0} |")).ConfigureAwait(false);
                }
            }
        }

        foreach (var (name, results) in paths)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"| {o.DownloadBytes >> 20} MiB download (HTTP/2; HTTP/1.1), CPU s per download | {name} | {Median(results.BulkHttp2, x => x.Cpu.ProxySeconds):F2}; {Median(results.BulkHttp1, x => x.Cpu.ProxySeconds):F2} | {Median(results.BulkHttp2, x => x.Cpu.ServerSeconds):F2}; {Median(results.BulkHttp1, x => x.Cpu.ServerSeconds):F2} | {Median(results.BulkHttp2, x => x.Cpu.MachineBusy):P0} |")).ConfigureAwait(false);
        }

        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("Fresh curl, phases (medians, ms from the start: DNS done, TCP connected, TLS done, first byte, total)").ConfigureAwait(false);
        await output.WriteLineAsync().ConfigureAwait(false);
        await output.WriteLineAsync("| request | path | DNS | TCP | TLS | first byte | total |").ConfigureAwait(false);
        await output.WriteLineAsync("|---|---|---:|---:|---:|---:|---:|").ConfigureAwait(false);
        foreach (var (what, select) in new (string, Func<PathResults, List<FirstRequestRun>>)[] { ("never-seen name", r => r.NeverSeen), ("never-seen name, one CA", r => r.NeverSeenSingleCa), ("allowed.test", r => r.KnownHost) })
        {
            foreach (var (name, results) in paths)
            {
                var runs = select(results);
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"| {what} | {name} | {Median(runs, x => x.DnsMs):F2} | {Median(runs, x => x.ConnectMs):F2} | {Median(runs, x => x.TlsMs):F2} | {Median(runs, x => x.FirstByteMs):F2} | {Median(runs, x => x.TotalMs):F2} |")).ConfigureAwait(false);
            }
        }

        await output.WriteLineAsync().ConfigureAwait(false);
        foreach (var (name, results) in paths.Skip(1))
        {
            var errors = results.KeepAliveHttp1.Concat(results.KeepAliveHttp2).Concat(results.NewConnections).Sum(x => x.Errors);
            var requests = results.KeepAliveHttp1.Concat(results.KeepAliveHttp2).Concat(results.NewConnections).Sum(x => x.WindowRequests);
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{name}: {results.Stops.Sum(s => s.Events)} events recorded ({results.Stops.Sum(s => s.DnsEvents)} of them DNS queries) over {results.Stops.Count} runs (≈ {requests} measured requests, warm-ups and curls not counted); load-tool errors {errors}; peak RSS per run {string.Join(" / ", results.Stops.Select(s => s.PeakRssMiB.ToString("F1", CultureInfo.InvariantCulture)))} MiB")).ConfigureAwait(false);
        }

        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"direct: load-tool errors {direct.KeepAliveHttp1.Concat(direct.KeepAliveHttp2).Concat(direct.NewConnections).Sum(x => x.Errors)}")).ConfigureAwait(false);
    }

    public static double Median<T>(IEnumerable<T> runs, Func<T, double> value)
    {
        var sorted = runs.Select(value).Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string Text(double value, string format) => double.IsNaN(value) ? "–" : value.ToString(format, CultureInfo.InvariantCulture);
}
