using System.Diagnostics;

namespace HardenRunner.Monitoring;

/// <summary>Turns the connector's CLOCK_MONOTONIC timestamps into wall-clock times (offset fixed at construction).</summary>
internal sealed class MonotonicClock
{
    private readonly DateTimeOffset _wallAtStart;
    private readonly long _monotonicNsAtStart;

    public MonotonicClock(TimeProvider time)
    {
        _monotonicNsAtStart = NowNs();
        _wallAtStart = time.GetUtcNow();
    }

    public static long NowNs() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));

    public DateTimeOffset ToWall(ulong monotonicNs) =>
        _wallAtStart + TimeSpan.FromTicks(((long)monotonicNs - _monotonicNsAtStart) / 100);
}
