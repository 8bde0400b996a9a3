using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Serialization;

namespace HardenRunner.LabBench;

/// <summary>What one load run measured (written as JSON by the client process, read by the scenario).</summary>
internal sealed record LoadResult(
    string Target,
    double Seconds,
    long Sent,
    long Answered,
    long Errors,
    long Timeouts,
    long Stale,
    double QueriesPerSecond,
    double P50Ms,
    double P99Ms,
    double AvgMs,
    long AnsweredInAll = 0);

[JsonSerializable(typeof(LoadResult))]
[JsonSerializable(typeof(WarmResult))]
internal sealed partial class BenchJsonContext : JsonSerializerContext;

/// <summary>What warming a cache found.</summary>
internal sealed record WarmResult(string Target, int Names, int Answered, IReadOnlyList<string> Failed);

/// <summary>
/// A bounded closed-loop UDP DNS load generator: one connected socket, a fixed number of queries outstanding, one
/// thread. Each answer (or timeout) of a slot sends that slot's next query, so the load adapts to the server and
/// never exceeds the concurrency. Runs a warm-up period first (not counted), then counts for a fixed duration;
/// every loop is bounded in time and iterations.
/// </summary>
internal sealed class UdpLoadClient
{
    private const int MaxLatencySamples = 8_000_000;
    private static readonly TimeSpan TimeoutScanInterval = TimeSpan.FromMilliseconds(20);

    private readonly IPEndPoint _target;
    private readonly byte[][] _queries;
    private readonly int _concurrency;
    private readonly TimeSpan _timeout;

    public UdpLoadClient(IPEndPoint target, IReadOnlyList<string> names, int concurrency, TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(concurrency, 4096);
        _target = target;
        _queries = [.. names.Select(DnsQueries.A)];
        _concurrency = concurrency;
        _timeout = timeout;
    }

    /// <summary>Asks every name once (sequentially, up to 3 tries) and reports which got an answer: fills the server's cache.</summary>
    public WarmResult Warm()
    {
        using var socket = Connect();
        socket.ReceiveTimeout = (int)_timeout.TotalMilliseconds;
        var buffer = new byte[65535];
        var failed = new List<string>();
        ushort id = 1;
        for (var i = 0; i < _queries.Length; i++)
        {
            var ok = false;
            for (var attempt = 0; attempt < 3 && !ok; attempt++)
            {
                var query = _queries[i].ToArray();
                DnsQueries.SetId(query, ++id);
                socket.Send(query);
                var deadline = Stopwatch.GetTimestamp() + (long)(_timeout.TotalSeconds * Stopwatch.Frequency);
                while (!ok && Stopwatch.GetTimestamp() < deadline)
                {
                    int n;
                    try
                    {
                        n = socket.Receive(buffer);
                    }
                    catch (SocketException)
                    {
                        break;
                    }

                    var m = buffer.AsSpan(0, n);
                    ok = DnsQueries.IsResponse(m) && DnsQueries.Id(m) == id && DnsQueries.IsAnswer(m);
                }
            }

            if (!ok)
            {
                failed.Add(System.Text.Encoding.ASCII.GetString(_queries[i].AsSpan(12)));
            }
        }

        return new WarmResult(_target.ToString(), _queries.Length, _queries.Length - failed.Count, failed);
    }

    public LoadResult Run(TimeSpan warmup, TimeSpan duration)
    {
        using var socket = Connect();
        socket.Blocking = false;
        var frequency = Stopwatch.Frequency;
        var timeoutTicks = (long)(_timeout.TotalSeconds * frequency);
        var generations = 65536 / _concurrency;

        var sentAt = new long[_concurrency];
        var ids = new int[_concurrency];
        var generation = new int[_concurrency];
        var send = new byte[512];
        var receive = new byte[65535];
        var latencies = new long[Math.Min(MaxLatencySamples, (int)Math.Min(int.MaxValue, duration.TotalSeconds * 500_000))];
        var samples = 0;
        long sent = 0, answered = 0, errors = 0, timeouts = 0, stale = 0, answeredInAll = 0;
        var next = 0;

        var start = Stopwatch.GetTimestamp();
        var measureFrom = start + (long)(warmup.TotalSeconds * frequency);
        var end = measureFrom + (long)(duration.TotalSeconds * frequency);
        var nextScan = start;

        void Send(int slot, long now)
        {
            generation[slot] = (generation[slot] + 1) % generations;
            var id = (generation[slot] * _concurrency) + slot;
            var query = _queries[next];
            next = (next + 1) % _queries.Length;
            query.CopyTo(send, 0);
            DnsQueries.SetId(send, (ushort)id);
            ids[slot] = id;
            sentAt[slot] = now;
            // an error (ICMP refused, a full buffer) leaves the slot to time out and be sent again
            socket.Send(send, 0, query.Length, SocketFlags.None, out _);

            if (now >= measureFrom)
            {
                sent++;
            }
        }

        var t0 = Stopwatch.GetTimestamp();
        for (var slot = 0; slot < _concurrency; slot++)
        {
            Send(slot, t0);
        }

        // bounded: by time (end), and by iterations (far more than any run can do in its duration)
        var maxIterations = (long)((warmup + duration).TotalSeconds * 20_000_000) + 1_000_000;
        for (long iteration = 0; iteration < maxIterations; iteration++)
        {
            var now = Stopwatch.GetTimestamp();
            if (now >= end)
            {
                break;
            }

            if (!socket.Poll(TimeSpan.FromMilliseconds(1), SelectMode.SelectRead))
            {
                now = Stopwatch.GetTimestamp();
            }
            else
            {
                for (var drained = 0; drained < 4 * _concurrency; drained++)
                {
                    var n = socket.Receive(receive, 0, receive.Length, SocketFlags.None, out var error);
                    if (error == SocketError.WouldBlock)
                    {
                        break;
                    }

                    if (error != SocketError.Success)
                    {
                        continue; // an ICMP error reported on the connected socket
                    }

                    now = Stopwatch.GetTimestamp();
                    var m = receive.AsSpan(0, n);
                    if (!DnsQueries.IsResponse(m))
                    {
                        stale++;
                        continue;
                    }

                    var id = DnsQueries.Id(m);
                    var slot = id % _concurrency;
                    if (ids[slot] != id)
                    {
                        stale++; // an answer after its slot timed out and moved on
                        continue;
                    }

                    if (DnsQueries.IsAnswer(m))
                    {
                        answeredInAll++;
                    }

                    if (now >= measureFrom && now < end)
                    {
                        if (DnsQueries.IsAnswer(m))
                        {
                            answered++;
                            if (samples < latencies.Length)
                            {
                                latencies[samples++] = now - sentAt[slot];
                            }
                        }
                        else
                        {
                            errors++;
                        }
                    }

                    ids[slot] = -1;
                    Send(slot, now);
                }
            }

            if (now >= nextScan)
            {
                nextScan = now + (long)(TimeoutScanInterval.TotalSeconds * frequency);
                for (var slot = 0; slot < _concurrency; slot++)
                {
                    if (now - sentAt[slot] > timeoutTicks)
                    {
                        if (now >= measureFrom)
                        {
                            timeouts++;
                        }

                        Send(slot, now);
                    }
                }
            }
        }

        var seconds = duration.TotalSeconds;
        var average = samples == 0 ? double.NaN : latencies.AsSpan(0, samples).ToArray().Average() * 1000.0 / frequency;
        Array.Sort(latencies, 0, samples);
        return new LoadResult(
            _target.ToString(),
            seconds,
            sent,
            answered,
            errors,
            timeouts,
            stale,
            answered / seconds,
            Percentile(latencies, samples, 0.50, frequency),
            Percentile(latencies, samples, 0.99, frequency),
            average,
            answeredInAll);
    }

    private static double Percentile(long[] sorted, int count, double p, long frequency) =>
        count == 0 ? double.NaN : sorted[Math.Min(count - 1, (int)(p * count))] * 1000.0 / frequency;

    private Socket Connect()
    {
        var socket = new Socket(_target.AddressFamily, SocketType.Dgram, ProtocolType.Udp)
        {
            ReceiveBufferSize = 4 * 1024 * 1024,
            SendBufferSize = 4 * 1024 * 1024,
        };
        socket.Connect(_target);
        return socket;
    }
}
