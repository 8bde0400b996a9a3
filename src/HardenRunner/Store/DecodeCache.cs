using System.Text.Json;
using HardenRunner.Events;

namespace HardenRunner.Store;

/// <summary>
/// Shares one decoded <see cref="ProcessInfo"/> among the events of one read that name the same process (the same
/// stored JSON): a run's thousands of events per process decode to one object, not one each. Besides the allocations,
/// this keeps the per-object caches keyed by a process (redaction, encoding: <c>ConditionalWeakTable</c>s) at one
/// entry per process; with one object per event, a report over millions of events spent most of its time in the GC
/// scanning those entries. Bounded (it starts over past <see cref="Capacity"/> processes). Not thread-safe: one per
/// read.
/// </summary>
public sealed class DecodeCache
{
    public const int Capacity = 4096;

    private readonly Dictionary<string, ProcessInfo> _processes = new(StringComparer.Ordinal);

    internal ProcessInfo Process(string json, JsonElement element, Func<JsonElement, ProcessInfo> decode)
    {
        if (_processes.TryGetValue(json, out var known))
        {
            return known;
        }

        if (_processes.Count >= Capacity)
        {
            _processes.Clear();
        }

        var decoded = decode(element);
        _processes[json] = decoded;
        return decoded;
    }
}
