using HardenRunner.Store;

namespace HardenRunner.Insights;

/// <summary>The runs of one job: same repository, workflow and job (absent values match only absent values).</summary>
public static class JobRuns
{
    /// <summary>Runs of <paramref name="run"/>'s job that started no later than it, newest first, <paramref name="run"/> included; at most <paramref name="limit"/> (null: all kept).</summary>
    public static async Task<IReadOnlyList<RunInfo>> ListAsync(IEventStore store, RunInfo run, int? limit, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(run);
        var candidates = await store.ListRunsAsync(
            new RunFilter { Repository = run.Repository, Workflow = run.Workflow, Job = run.Job },
            cancellationToken).ConfigureAwait(false);
        var result = new List<RunInfo> { run };
        foreach (var r in candidates)
        {
            if (limit is { } n && result.Count >= n)
            {
                break;
            }

            if (r.Id != run.Id && r.StartedAt <= run.StartedAt && SameJob(r, run))
            {
                result.Add(r);
            }
        }

        return result;
    }

    public static bool SameJob(RunInfo a, RunInfo b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return a.Repository == b.Repository && a.Workflow == b.Workflow && a.Job == b.Job;
    }
}
