using HardenRunner.Events;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// Something the file monitor wants known that is not a detection: events were lost (the monitor then re-checks
/// every source and control file), a cap was reached, the watcher runs in a reduced mode.
/// </summary>
public sealed record FileMonitorNotice(DateTimeOffset Time, string Kind, string Message, IReadOnlyDictionary<string, string> Details)
    : ApplianceEvent(Time)
{
    public const string EventsLost = "events-lost";
    public const string UntrackedCapped = "untracked-events-capped";
    public const string DetectionsCapped = "detections-capped";
    public const string Degraded = "degraded";
}
