using HardenRunner.Events;
using HardenRunner.Monitoring.Files;

namespace HardenRunner.Hosting;

/// <summary>
/// The file monitor's own notices (events lost, caps reached, degraded mode) go to the appliance's log; every other
/// event (file events, detections) goes on to the run's sinks.
/// </summary>
internal sealed class FileMonitorNoticeSink(IEventSink next, TextWriter log) : IEventSink
{
    public void Publish(ApplianceEvent e)
    {
        if (e is FileMonitorNotice notice)
        {
            lock (log)
            {
                log.WriteLine($"harden-runner: file monitor: {notice.Kind}: {notice.Message}");
            }

            return;
        }

        next.Publish(e);
    }
}
