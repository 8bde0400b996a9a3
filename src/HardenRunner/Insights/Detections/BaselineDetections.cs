using System.Globalization;
using HardenRunner.Events;
using HardenRunner.Store;

namespace HardenRunner.Insights.Detections;

/// <summary>
/// Detections that need more than one event: <c>new-endpoint</c> (a destination that none of this job's past runs
/// reached or tried) and <c>github-cross-org-write</c> (a mutating GitHub API or git call into an owner other than the
/// owner of GITHUB_REPOSITORY). <see cref="Detect"/> is pure; <see cref="AppendAsync"/> runs it for a run at stop and
/// stores the result with the run's other detections, so every report and view shows them.
/// </summary>
public static class BaselineDetections
{
    public const string NewEndpoint = "new-endpoint";
    public const string CrossOrgWrite = "github-cross-org-write";

    /// <summary>Most detections of each type per run; the rest are counted in the last one's summary.</summary>
    public const int MaxPerType = 100;

    /// <summary>Past runs of the same job compared against (the newest first).</summary>
    public const int DefaultBaselineRuns = 20;

    private static readonly HashSet<string> GitHubApiHosts = new(StringComparer.OrdinalIgnoreCase) { "api.github.com", "uploads.github.com" };

    /// <summary>
    /// The detections for <paramref name="current"/>'s events. <paramref name="past"/> holds the destinations of the
    /// job's past runs, or is null when there is no past run (then nothing is "new": there is no baseline).
    /// </summary>
    public static IReadOnlyList<DetectionEvent> Detect(RunInfo run, IEnumerable<NetworkEvent> current, IReadOnlySet<string>? past, int pastRuns = 0)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(current);
        var result = new List<DetectionEvent>();
        var reported = new HashSet<string>(StringComparer.Ordinal);
        var newCount = 0;
        var crossCount = 0;
        var owner = run.Repository?.Split('/')[0];
        foreach (var e in current)
        {
            if (past is not null && Destination(e) is { } dest && reported.Add(dest))
            {
                if (!past.Contains(dest) && ++newCount <= MaxPerType)
                {
                    result.Add(new DetectionEvent(
                        e.Time,
                        NewEndpoint,
                        "medium",
                        $"{dest} was {(e.Action == NetworkEvent.Blocked ? "tried" : "reached")} ({e.Kind}); none of this job's {pastRuns} past run(s) did",
                        Evidence(e, ("destination", dest), ("pastRuns", pastRuns.ToString(CultureInfo.InvariantCulture))))
                    {
                        Process = e.Process,
                        Step = e.Step,
                    });
                }
            }

            if (owner is { Length: > 0 } && CrossOrgTarget(e, owner) is { } target && ++crossCount <= MaxPerType)
            {
                result.Add(new DetectionEvent(
                    e.Time,
                    CrossOrgWrite,
                    "high",
                    $"{e.Method} {e.Host}{PathOnly(e.Path)} writes into '{target}', not the job's owner '{owner}' ({(e.Action == NetworkEvent.Blocked ? "blocked" : "passed")})",
                    Evidence(e, ("owner", target), ("repositoryOwner", owner)))
                {
                    Process = e.Process,
                    Step = e.Step,
                });
            }
        }

        if (newCount > MaxPerType)
        {
            result.Add(new DetectionEvent(DateTimeOffset.UtcNow, NewEndpoint, "medium", $"{newCount - MaxPerType} more new destinations were not listed", new Dictionary<string, string>()));
        }

        if (crossCount > MaxPerType)
        {
            result.Add(new DetectionEvent(DateTimeOffset.UtcNow, CrossOrgWrite, "high", $"{crossCount - MaxPerType} more cross-owner writes were not listed", new Dictionary<string, string>()));
        }

        return result;
    }

    /// <summary>A destination as compared across runs: <c>host:port</c> (or <c>address:port</c>) and the protocol; null for DNS.</summary>
    public static string? Destination(NetworkEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Kind == "dns")
        {
            return null;
        }

        var name = string.IsNullOrEmpty(e.Host) ? e.Address : e.Host.TrimEnd('.').ToLowerInvariant();
        return string.IsNullOrEmpty(name) ? null : $"{name}:{e.Port.ToString(CultureInfo.InvariantCulture)}{(e.Kind == "udp" ? "/udp" : "")}";
    }

    /// <summary>The owner a mutating GitHub call writes into, when it is not <paramref name="owner"/>; else null.</summary>
    public static string? CrossOrgTarget(NetworkEvent e, string owner)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Method is not ("POST" or "PUT" or "PATCH" or "DELETE") || e.Host is null || e.Path is null)
        {
            return null;
        }

        var host = e.Host.TrimEnd('.').ToLowerInvariant();
        var segments = PathOnly(e.Path).Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Decode).ToArray();
        string? target = null;
        if (GitHubApiHosts.Contains(host) && segments.Length >= 2 && segments[0] is "repos" or "orgs")
        {
            target = segments[1];
        }
        else if (host == "github.com" && segments.Length >= 3 && segments[^1] == "git-receive-pack")
        {
            target = segments[0]; // git push
        }

        return target is not null && !string.Equals(target, owner, StringComparison.OrdinalIgnoreCase) ? target : null;
    }

    /// <summary>Computes the detections of a finished run from the store and appends them to it; returns how many.</summary>
    public static async Task<int> AppendAsync(IEventStore store, string runId, int baselineRuns = DefaultBaselineRuns, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
        if (run is null)
        {
            return 0;
        }

        (HashSet<string>? past, int pastCount) baseline;
        if (store is Store.Fleet.FleetEventStore fleet)
        {
            // fleet mode: the job's past runs on every runner, from the fleet database; this runner's own when it is unreachable
            try
            {
                baseline = await PastDestinationsAsync(fleet.Remote, run, baselineRuns, cancellationToken).ConfigureAwait(false);
            }
            catch (StoreException)
            {
                baseline = await PastDestinationsAsync(fleet.Local, run, baselineRuns, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            baseline = await PastDestinationsAsync(store, run, baselineRuns, cancellationToken).ConfigureAwait(false);
        }

        var (past, pastCount) = baseline;

        // streamed, not collected: a run can hold millions of network events (one per DNS query)
        var current = store.ReadEventsAsync(run.Id, EventKind.Network, cancellationToken)
            .ToBlockingEnumerable(cancellationToken)
            .Select(s => (NetworkEvent)s.Event);
        var detections = Detect(run, current, past, pastCount);
        if (detections.Count > 0)
        {
            await store.AppendAsync(run.Id, [.. detections], cancellationToken).ConfigureAwait(false);
        }

        return detections.Count;
    }

    /// <summary>The destinations of <paramref name="run"/>'s job's past runs in <paramref name="source"/> (null when there is none) and how many runs they came from.</summary>
    private static async Task<(HashSet<string>? Past, int Runs)> PastDestinationsAsync(IEventStore source, RunInfo run, int baselineRuns, CancellationToken cancellationToken)
    {
        var pastRuns = (await JobRuns.ListAsync(source, run, baselineRuns + 1, cancellationToken).ConfigureAwait(false))
            .Where(r => r.Id != run.Id)
            .Take(baselineRuns)
            .ToList();
        if (pastRuns.Count == 0)
        {
            return (null, 0);
        }

        var past = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in pastRuns)
        {
            await foreach (var s in source.ReadEventsAsync(r.Id, EventKind.Network, cancellationToken).ConfigureAwait(false))
            {
                if (Destination((NetworkEvent)s.Event) is { } d && past.Count < 100_000)
                {
                    past.Add(d);
                }
            }
        }

        return (past, pastRuns.Count);
    }

    private static Dictionary<string, string> Evidence(NetworkEvent e, params (string Key, string Value)[] extra)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kind"] = e.Kind,
            ["action"] = e.Action,
        };
        if (e.Host is not null)
        {
            d["host"] = e.Host;
        }

        if (e.Address is not null)
        {
            d["address"] = e.Address;
        }

        d["port"] = e.Port.ToString(CultureInfo.InvariantCulture);
        if (e.Method is not null)
        {
            d["method"] = e.Method;
        }

        if (e.Path is not null)
        {
            d["path"] = e.Path;
        }

        foreach (var (k, v) in extra)
        {
            d[k] = v;
        }

        return d;
    }

    private static string PathOnly(string? target)
    {
        if (string.IsNullOrEmpty(target))
        {
            return "";
        }

        var q = target.IndexOfAny(['?', '#']);
        return q < 0 ? target : target[..q];
    }

    private static string Decode(string s)
    {
        try
        {
            return Uri.UnescapeDataString(s);
        }
        catch (UriFormatException)
        {
            return s;
        }
    }
}
