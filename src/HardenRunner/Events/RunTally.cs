using System.Collections.Concurrent;
using HardenRunner.Policy.Model;

namespace HardenRunner.Events;

/// <summary>Counts what a run saw, per destination, for the status reply and the summary written at stop.</summary>
public sealed class RunTally : IEventSink
{
    private readonly ConcurrentDictionary<(string Kind, string Destination, int Port, Decision Decision, string Action), long> _destinations = new();
    private readonly ConcurrentQueue<DetectionEvent> _detections = new();
    private long _events;

    public long Events => Interlocked.Read(ref _events);

    public IReadOnlyCollection<DetectionEvent> Detections => _detections;

    public void Publish(ApplianceEvent e)
    {
        Interlocked.Increment(ref _events);
        switch (e)
        {
            case NetworkEvent n:
                _destinations.AddOrUpdate((n.Kind, n.Host ?? n.Address ?? "?", n.Port, n.Decision, n.Action), 1, (_, c) => c + 1);
                break;
            case DetectionEvent d when _detections.Count < 10_000:
                _detections.Enqueue(d);
                break;
        }
    }

    public IReadOnlyList<(string Kind, string Destination, int Port, Decision Decision, string Action, long Count)> Destinations() =>
        [.. _destinations
            .Select(kv => (kv.Key.Kind, kv.Key.Destination, kv.Key.Port, kv.Key.Decision, kv.Key.Action, kv.Value))
            .OrderBy(x => x.Action == NetworkEvent.Blocked ? 0 : x.Decision == Decision.Deny ? 1 : 2)
            .ThenByDescending(x => x.Value)
            .ThenBy(x => x.Destination, StringComparer.Ordinal)];

    public long Count(Func<(string Kind, Decision Decision, string Action), bool> predicate) =>
        _destinations.Where(kv => predicate((kv.Key.Kind, kv.Key.Decision, kv.Key.Action))).Sum(kv => kv.Value);
}

/// <summary>Fans events out to several sinks.</summary>
public sealed class CompositeEventSink(params IEventSink[] sinks) : IEventSink
{
    public void Publish(ApplianceEvent e)
    {
        foreach (var s in sinks)
        {
            s.Publish(e);
        }
    }
}
