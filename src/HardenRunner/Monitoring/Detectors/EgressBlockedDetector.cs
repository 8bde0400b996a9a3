using System.Globalization;
using HardenRunner.Events;

namespace HardenRunner.Monitoring.Detectors;

/// <summary>
/// egress-blocked: something in the job tried to reach a destination and the appliance refused it — a DNS query
/// answered NXDOMAIN, a proxied connection or request refused, a flow the firewall dropped (in block mode; also the
/// few refusals audit mode makes: a connection to the proxy port that was not redirected, a malformed request, a zone
/// transfer). A sink in front of the others: every network event passes through unchanged, and a blocked one also
/// raises a detection with the same process and step (the event's attribution is complete when it is published).
/// One detection per destination, process and step; at most <see cref="MaxDetections"/> per run, the rest counted in
/// <see cref="Suppressed"/>. The evidence holds the destination and the rule, never a path or query (they may carry
/// the data being smuggled). Thread-safe.
/// </summary>
public sealed class EgressBlockedDetector(IEventSink next, int maxDetections = EgressBlockedDetector.DefaultMaxDetections) : IEventSink
{
    public const int DefaultMaxDetections = 100;

    private readonly Lock _gate = new();
    private readonly HashSet<(string Kind, string Destination, int Port, string? Exe, string? Action, string? Uses)> _seen = [];
    private long _suppressed;

    public int MaxDetections { get; } = maxDetections;

    /// <summary>Blocked events that raised no detection because the per-run limit was reached.</summary>
    public long Suppressed => Interlocked.Read(ref _suppressed);

    public void Publish(ApplianceEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        next.Publish(e);
        if (e is NetworkEvent { Action: NetworkEvent.Blocked } blocked && Observe(blocked) is { } detection)
        {
            next.Publish(detection);
        }
    }

    private DetectionEvent? Observe(NetworkEvent e)
    {
        var destination = e.Host ?? e.Address ?? "(unknown)";
        lock (_gate)
        {
            var key = (e.Kind, destination, e.Port, e.Process?.Exe, e.Step?.Action, e.Step?.Uses);
            if (_seen.Contains(key))
            {
                return null;
            }

            if (_seen.Count >= MaxDetections)
            {
                Interlocked.Increment(ref _suppressed);
                return null;
            }

            _seen.Add(key);
        }

        var inv = CultureInfo.InvariantCulture;
        var evidence = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kind"] = e.Kind,
            ["destination"] = destination,
            ["port"] = e.Port.ToString(inv),
            ["rule"] = e.Rule,
        };
        if (e.Address is { } address)
        {
            evidence["address"] = address;
        }

        if (e.Method is { } method)
        {
            evidence["method"] = method;
        }

        var who = e.Process?.Exe is { } exe ? $" by {Path.GetFileName(exe)}" : "";
        var step = e.Step?.Action is { } action ? $" in step {action}" : "";
        return new DetectionEvent(
            e.Time,
            DetectionTypes.EgressBlocked,
            DetectionTypes.Medium,
            $"{e.Kind} to {destination}:{e.Port.ToString(inv)} blocked{who}{step} ({e.Rule})",
            evidence)
        { Process = e.Process, Step = e.Step };
    }
}
