using HardenRunner.Events;

namespace HardenRunner.Store;

/// <summary>The kinds of events the store keeps, one per report section.</summary>
public enum EventKind
{
    Network,
    File,
    Process,
    Detection,
}

/// <summary>An event read back from the store: its position (arrival order within the store) and the event.</summary>
public sealed record StoredEvent(long Sequence, string RunId, ApplianceEvent Event);

/// <summary>Text names of <see cref="EventKind"/> as stored.</summary>
public static class EventKinds
{
    public static string Name(EventKind kind) => kind switch
    {
        EventKind.Network => "network",
        EventKind.File => "file",
        EventKind.Process => "process",
        EventKind.Detection => "detection",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The kind of an event, or null for event types the store does not keep.</summary>
    public static EventKind? Of(ApplianceEvent e) => e switch
    {
        NetworkEvent => EventKind.Network,
        FileEvent => EventKind.File,
        ProcessEvent => EventKind.Process,
        DetectionEvent => EventKind.Detection,
        _ => null,
    };
}
