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
    private readonly Dictionary<long, ProcessInfo> _stored = [];

    /// <summary>The process stored apart from its events under <paramref name="id"/> (SQLite's <c>processes</c> table), decoded once per read.</summary>
    internal ProcessInfo StoredProcess(long id, System.Data.Common.DbDataReader row, int jsonOrdinal)
    {
        if (_stored.TryGetValue(id, out var known))
        {
            return known;
        }

        if (_stored.Count >= Capacity)
        {
            _stored.Clear();
        }

        var decoded = EventCodec.DecodeProcess(row.IsDBNull(jsonOrdinal)
            ? throw new StoreException($"an event references process {id}, which is not in the store")
            : row.GetString(jsonOrdinal));
        _stored[id] = decoded;
        return decoded;
    }

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
