using System.Globalization;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.LabBench;

/// <summary>
/// One load run: requests/s, latency percentiles, how many requests completed and how many failed, and the CPU used
/// over the run's whole window (<paramref name="WindowRequests"/> requests, warm-up included where the tool has one).
/// </summary>
internal sealed record LoadRun(double RequestsPerSecond, double P50Ms, double P99Ms, long Requests, long Errors, CpuUse Cpu, long WindowRequests)
{
    public double ProxyMicrosPerRequest => Cpu.ProxySeconds * 1e6 / Math.Max(1, WindowRequests);

    public double ServerMicrosPerRequest => Cpu.ServerSeconds * 1e6 / Math.Max(1, WindowRequests);
}

/// <summary>One download: bytes/s as curl measured it and the HTTP version it used.</summary>
internal sealed record TransferRun(double BytesPerSecond, string HttpVersion, CpuUse Cpu);

/// <summary>One request on a fresh connection by a fresh curl: the phases curl reports, in ms from the start.</summary>
internal sealed record FirstRequestRun(double DnsMs, double ConnectMs, double TlsMs, double FirstByteMs, double TotalMs);

/// <summary>
/// The real load tools, run inside the lab's runner namespaces: wrk (HTTP/1.1), h2load (HTTP/2, nghttp2-client) and
/// curl. wrk and h2load do not verify the server certificate (neither has an option to); curl always does, with the
/// trust arguments of the target (the lab CA for direct, the system store for the appliance).
/// Every run is bounded by the tool's own duration plus a kill timeout.
/// </summary>
internal sealed class HttpClients(TestLab lab, string scratch)
{
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(30);
    private int _logs;

    /// <summary><c>wrk -t T -c C -d D --latency URL</c>; with <paramref name="closeEachConnection"/> every request carries
    /// <c>Connection: close</c>, so wrk reconnects (a full TLS handshake, no session resumption) for every request.</summary>
    public async Task<(double Rps, double P50Ms, double P99Ms, long Requests, long Errors)> WrkAsync(string url, int threads, int connections, TimeSpan duration, bool closeEachConnection)
    {
        string[] args =
        [
            "-t", Text(threads), "-c", Text(connections), "-d", Text((int)duration.TotalSeconds) + "s", "--latency", "--timeout", "5s",
            .. closeEachConnection ? new[] { "-H", "Connection: close" } : [],
            url,
        ];
        var run = await lab.RunInRunnerAsync("wrk", args, duration + Slack).ConfigureAwait(false);
        if (!run.Succeeded)
        {
            throw new InvalidOperationException($"wrk failed:\n{run}");
        }

        return WrkOutput.Parse(run.StandardOutput);
    }

    /// <summary><c>h2load -t T -c C -m M -D D --warm-up-time W --log-file F URL</c>; percentiles from the per-request log.</summary>
    public async Task<(double Rps, double P50Ms, double P99Ms, long Requests, long Errors)> H2loadAsync(string url, int threads, int connections, int streams, TimeSpan duration, TimeSpan warmup)
    {
        var log = Path.Combine(scratch, $"h2load-{Interlocked.Increment(ref _logs)}.log");
        string[] args =
        [
            "-t", Text(threads), "-c", Text(connections), "-m", Text(streams), "-D", Text((int)duration.TotalSeconds),
            .. warmup > TimeSpan.Zero ? new[] { "--warm-up-time", Text((int)warmup.TotalSeconds) } : [],
            "--log-file", log, url,
        ];
        var run = await lab.RunInRunnerAsync("h2load", args, duration + warmup + Slack).ConfigureAwait(false);
        if (!run.Succeeded)
        {
            throw new InvalidOperationException($"h2load failed:\n{run}");
        }

        try
        {
            return H2loadOutput.Parse(run.StandardOutput, File.ReadLines(log));
        }
        finally
        {
            File.Delete(log);
        }
    }

    /// <summary>Downloads with curl to /dev/null; returns curl's average speed (bytes/s) and the HTTP version used.</summary>
    public async Task<(double BytesPerSecond, string HttpVersion)> DownloadAsync(string url, IReadOnlyList<string> trust, bool http11)
    {
        string[] args =
        [
            "-sS", "--fail", "--max-time", "120", .. trust, http11 ? "--http1.1" : "--http2",
            "-o", "/dev/null", "-w", "%{speed_download} %{http_version} %{size_download}", url,
        ];
        var run = await lab.RunInRunnerAsync("curl", args, TimeSpan.FromSeconds(150)).ConfigureAwait(false);
        if (!run.Succeeded)
        {
            throw new InvalidOperationException($"curl download failed:\n{run}");
        }

        var f = run.StandardOutput.Trim().Split(' ');
        return (double.Parse(f[0], CultureInfo.InvariantCulture), f[1]);
    }

    /// <summary>One GET by a fresh curl process (new DNS lookup, connection and handshake): curl's phase times.</summary>
    public async Task<FirstRequestRun> FirstRequestAsync(string url, IReadOnlyList<string> trust)
    {
        string[] args =
        [
            "-sS", "--fail", "--max-time", "20", .. trust, "-o", "/dev/null",
            "-w", "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}", url,
        ];
        var run = await lab.RunInRunnerAsync("curl", args, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        if (!run.Succeeded)
        {
            throw new InvalidOperationException($"curl failed:\n{run}");
        }

        var t = run.StandardOutput.Trim().Split(' ').Select(s => double.Parse(s, CultureInfo.InvariantCulture) * 1000).ToArray();
        return new FirstRequestRun(t[0], t[1], t[2], t[3], t[4]);
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Reads wrk's report (requests/s, the --latency distribution, errors).</summary>
internal static class WrkOutput
{
    public static (double Rps, double P50Ms, double P99Ms, long Requests, long Errors) Parse(string text)
    {
        double rps = double.NaN, p50 = double.NaN, p99 = double.NaN;
        long requests = 0, errors = 0;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (line.StartsWith("Requests/sec:", StringComparison.Ordinal))
            {
                rps = double.Parse(f[1], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("50%", StringComparison.Ordinal))
            {
                p50 = Milliseconds(f[1]);
            }
            else if (line.StartsWith("99%", StringComparison.Ordinal))
            {
                p99 = Milliseconds(f[1]);
            }
            else if (f.Length > 2 && f[1] == "requests" && f[2] == "in")
            {
                requests = long.Parse(f[0], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("Socket errors:", StringComparison.Ordinal))
            {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                errors += f.Skip(2).Where((_, i) => i % 2 == 1).Sum(v => long.Parse(v.TrimEnd(','), CultureInfo.InvariantCulture));
            }
            else if (line.StartsWith("Non-2xx or 3xx responses:", StringComparison.Ordinal))
            {
                errors += long.Parse(f[^1], CultureInfo.InvariantCulture);
            }
        }

        return double.IsNaN(rps) || double.IsNaN(p50) || double.IsNaN(p99)
            ? throw new InvalidOperationException("unexpected wrk output:\n" + text)
            : (rps, p50, p99, requests, errors);
    }

    /// <summary>wrk prints durations as 812.00us, 3.12ms, 1.02s or 1.00m.</summary>
    internal static double Milliseconds(string value)
    {
        (string Suffix, double Factor)[] units = [("us", 0.001), ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)];
        foreach (var (suffix, factor) in units)
        {
            if (value.EndsWith(suffix, StringComparison.Ordinal))
            {
                return double.Parse(value[..^suffix.Length], CultureInfo.InvariantCulture) * factor;
            }
        }

        throw new FormatException($"unexpected wrk duration '{value}'");
    }
}

/// <summary>Reads h2load's report (req/s, succeeded, failed) and its per-request log (start µs, status, duration µs).</summary>
internal static class H2loadOutput
{
    public static (double Rps, double P50Ms, double P99Ms, long Requests, long Errors) Parse(string text, IEnumerable<string> log)
    {
        double rps = double.NaN;
        long succeeded = -1, failed = 0;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("finished in", StringComparison.Ordinal))
            {
                // finished in 10.00s, 25000.00 req/s, 2.00MB/s
                var parts = line.Split(',');
                rps = double.Parse(parts[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("requests:", StringComparison.Ordinal))
            {
                // requests: 250000 total, 250000 started, 250000 done, 250000 succeeded, 0 failed, 0 errored, 0 timeout
                foreach (var part in line["requests:".Length..].Split(','))
                {
                    var f = part.Trim().Split(' ');
                    var n = long.Parse(f[0], CultureInfo.InvariantCulture);
                    if (f[1] == "succeeded")
                    {
                        succeeded = n;
                    }
                    else if (f[1] is "failed" or "timeout")
                    {
                        failed += n;
                    }
                }
            }
        }

        var durations = new List<long>();
        foreach (var line in log)
        {
            var f = line.Split('\t');
            if (f.Length >= 3 && f[1] is ['2', _, _])
            {
                durations.Add(long.Parse(f[2], CultureInfo.InvariantCulture));
            }
        }

        durations.Sort();
        return double.IsNaN(rps) || succeeded < 0 || durations.Count == 0
            ? throw new InvalidOperationException("unexpected h2load output (or an empty request log):\n" + text)
            : (rps, Percentile(durations, 0.50) / 1000.0, Percentile(durations, 0.99) / 1000.0, succeeded, failed);
    }

    private static long Percentile(List<long> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
}
