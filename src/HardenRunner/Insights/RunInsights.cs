using HardenRunner.Events;
using HardenRunner.Insights.Permissions;
using HardenRunner.Insights.Recommendation;
using HardenRunner.Store;

namespace HardenRunner.Insights;

/// <summary>What to read for a run's insights.</summary>
public sealed record InsightsOptions
{
    /// <summary>The latest N runs of the job (the run itself included); null: every run kept.</summary>
    public int? Runs { get; init; }

    public RecommenderOptions Recommender { get; init; } = new();
}

/// <summary>
/// A run's recommendations, built across the run and the earlier runs of the same job: the policy YAML and the
/// GITHUB_TOKEN permissions. The JSON report, the Markdown summary, the HTML report, the dashboard and
/// <c>harden-runner recommend</c> all take their text from here, so they always agree.
/// </summary>
public sealed record RunInsights(RunInfo Run, IReadOnlyList<RunInfo> Runs, string RecommendedPolicy, TokenPermissionsResult TokenPermissions)
{
    /// <summary>Reads the job's runs from <paramref name="store"/> (network events only, streamed) and builds the insights.</summary>
    public static async Task<RunInsights> BuildAsync(IEventStore store, RunInfo run, InsightsOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(run);
        options ??= new InsightsOptions();
        var runs = await JobRuns.ListAsync(store, run, options.Runs, cancellationToken).ConfigureAwait(false);
        var recommender = new PolicyRecommender(options.Recommender);
        var tokens = new TokenPermissionAnalyzer(run.Repository);
        foreach (var r in runs)
        {
            recommender.BeginRun(r);
            await foreach (var stored in store.ReadEventsAsync(r.Id, EventKind.Network, cancellationToken).ConfigureAwait(false))
            {
                var e = (NetworkEvent)stored.Event;
                recommender.Add(e);
                tokens.Add(r.Id, e);
            }
        }

        return new RunInsights(run, runs, recommender.ToYaml(), tokens.Build());
    }
}
