using HardenRunner.Events;
using HardenRunner.Insights.Detections;
using HardenRunner.Store;

namespace HardenRunner.Dashboard;

/// <summary>A job: repository, workflow and job name (absent values stay null).</summary>
public sealed record JobKey(string? Repository, string? Workflow, string? Job)
{
    public static JobKey Of(RunInfo run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return new JobKey(run.Repository, run.Workflow, run.Job);
    }

    public override string ToString() => $"{Repository ?? "(no repository)"} · {Workflow ?? "(no workflow)"} · {Job ?? "(no job)"}";
}

/// <summary>One destination seen across runs: which jobs reached or tried it, in how many runs, on which runners.</summary>
public sealed record DestinationUse(
    string Destination,
    IReadOnlyList<JobKey> Jobs,
    IReadOnlyList<string> Runners,
    int Runs,
    long Passed,
    long Blocked,
    DateTimeOffset LastSeen);

/// <summary>One detection with the run it belongs to.</summary>
public sealed record FleetDetection(RunInfo Run, DetectionEvent Detection);

/// <summary>
/// The organisation views of the dashboard: every destination the given runs contacted (<c>host:port</c> as the
/// <c>new-endpoint</c> baseline compares them, <see cref="BaselineDetections.Destination"/>) with the jobs that use
/// it, and every detection of the given runs. The caller chooses the runs (filters, access, limit).
/// </summary>
public static class FleetViews
{
    /// <summary>Most detections listed.</summary>
    public const int MaxDetections = 5_000;

    /// <summary>Most distinct destinations listed.</summary>
    public const int MaxDestinations = 5_000;

    /// <summary>Destinations, most-used (by runs) first, then by name.</summary>
    public static async Task<IReadOnlyList<DestinationUse>> DestinationsAsync(IEventStore store, IReadOnlyList<RunInfo> runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(runs);
        var acc = new Dictionary<string, Accumulator>(StringComparer.Ordinal);
        foreach (var run in runs)
        {
            var seenInRun = new HashSet<string>(StringComparer.Ordinal);
            await foreach (var s in store.ReadEventsAsync(run.Id, EventKind.Network, cancellationToken).ConfigureAwait(false))
            {
                var e = (NetworkEvent)s.Event;
                if (BaselineDetections.Destination(e) is not { } dest)
                {
                    continue;
                }

                if (!acc.TryGetValue(dest, out var a))
                {
                    if (acc.Count >= MaxDestinations)
                    {
                        continue;
                    }

                    acc[dest] = a = new Accumulator();
                }

                if (seenInRun.Add(dest))
                {
                    a.Runs++;
                    a.Jobs.Add(JobKey.Of(run));
                    if (run.HostName is { } h)
                    {
                        a.Runners.Add(h);
                    }
                }

                if (e.Action == NetworkEvent.Blocked)
                {
                    a.Blocked++;
                }
                else
                {
                    a.Passed++;
                }

                if (e.Time > a.LastSeen)
                {
                    a.LastSeen = e.Time;
                }
            }
        }

        return [.. acc
            .Select(kv => new DestinationUse(
                kv.Key,
                [.. kv.Value.Jobs.OrderBy(j => j.ToString(), StringComparer.Ordinal)],
                [.. kv.Value.Runners.Order(StringComparer.Ordinal)],
                kv.Value.Runs,
                kv.Value.Passed,
                kv.Value.Blocked,
                kv.Value.LastSeen))
            .OrderByDescending(d => d.Runs)
            .ThenBy(d => d.Destination, StringComparer.Ordinal)];
    }

    /// <summary>Detections of the runs, newest first, at most <see cref="MaxDetections"/>.</summary>
    public static async Task<IReadOnlyList<FleetDetection>> DetectionsAsync(IEventStore store, IReadOnlyList<RunInfo> runs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(runs);
        var result = new List<FleetDetection>();
        foreach (var run in runs)
        {
            await foreach (var s in store.ReadEventsAsync(run.Id, EventKind.Detection, cancellationToken).ConfigureAwait(false))
            {
                if (result.Count >= MaxDetections)
                {
                    break;
                }

                result.Add(new FleetDetection(run, (DetectionEvent)s.Event));
            }
        }

        return [.. result.OrderByDescending(d => d.Detection.Time).ThenBy(d => d.Run.Id, StringComparer.Ordinal)];
    }

    private sealed class Accumulator
    {
        public HashSet<JobKey> Jobs { get; } = [];

        public HashSet<string> Runners { get; } = new(StringComparer.Ordinal);

        public int Runs { get; set; }

        public long Passed { get; set; }

        public long Blocked { get; set; }

        public DateTimeOffset LastSeen { get; set; } = DateTimeOffset.MinValue;
    }
}
