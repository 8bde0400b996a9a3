using HardenRunner.Events;

namespace HardenRunner.Monitoring.Network;

/// <summary>
/// Publishing network events and detections with the process and step of a (possibly still running) lookup. The event
/// keeps the time it was made; it is published as soon as the lookup ends (at once when it already has). Unknown
/// stays null.
/// </summary>
public static class AttributedEvents
{
    public static NetworkEvent With(this NetworkEvent e, Attribution a)
    {
        ArgumentNullException.ThrowIfNull(e);
        return a.Process is null && a.Step is null ? e : e with { Process = a.Process, Step = a.Step };
    }

    public static DetectionEvent With(this DetectionEvent e, Attribution a)
    {
        ArgumentNullException.ThrowIfNull(e);
        return a.Process is null && a.Step is null ? e : e with { Process = a.Process, Step = a.Step };
    }

    /// <summary>Publishes <paramref name="e"/> with the attribution of <paramref name="origin"/> (none: as it is).</summary>
    public static void PublishAttributed(this IEventSink sink, NetworkEvent e, PendingAttribution? origin)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (origin is null)
        {
            sink.Publish(e);
            return;
        }

        origin.Then(a => sink.Publish(e.With(a)));
    }

    /// <summary>Publishes <paramref name="e"/> with the attribution of <paramref name="origin"/> (none: as it is).</summary>
    public static void PublishAttributed(this IEventSink sink, DetectionEvent e, PendingAttribution? origin)
    {
        ArgumentNullException.ThrowIfNull(sink);
        if (origin is null)
        {
            sink.Publish(e);
            return;
        }

        origin.Then(a => sink.Publish(e.With(a)));
    }
}
