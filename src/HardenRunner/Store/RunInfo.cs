using HardenRunner.Policy.Model;

namespace HardenRunner.Store;

/// <summary>
/// One run of the appliance, i.e. one job: its id, when it started and ended, its egress mode, and the workflow
/// coordinates from the job's environment (<c>GITHUB_REPOSITORY</c>, <c>GITHUB_WORKFLOW</c>, <c>GITHUB_JOB</c>,
/// <c>GITHUB_RUN_ID</c>) when present, and the host name of the runner (the pod name on Kubernetes), so that a fleet's
/// runs in one database can be told apart. <see cref="EventsLost"/> counts events that could not be stored (recorded at end).
/// </summary>
public sealed record RunInfo(string Id, DateTimeOffset StartedAt, EgressMode Mode)
{
    public DateTimeOffset? EndedAt { get; init; }

    public string? Repository { get; init; }

    public string? Workflow { get; init; }

    public string? Job { get; init; }

    public string? GitHubRunId { get; init; }

    /// <summary>The runner's host name (the pod name under Kubernetes/ARC); null when unknown.</summary>
    public string? HostName { get; init; }

    public long EventsLost { get; init; }

    /// <summary>
    /// A run with the workflow coordinates read from <paramref name="env"/> (empty values count as absent) and the
    /// runner's host name (<paramref name="hostName"/>, default <see cref="Environment.MachineName"/>).
    /// </summary>
    public static RunInfo FromEnvironment(string id, DateTimeOffset startedAt, EgressMode mode, Func<string, string?> env, string? hostName = null)
    {
        ArgumentNullException.ThrowIfNull(env);
        return new RunInfo(id, startedAt, mode)
        {
            Repository = NullIfEmpty(env("GITHUB_REPOSITORY")),
            Workflow = NullIfEmpty(env("GITHUB_WORKFLOW")),
            Job = NullIfEmpty(env("GITHUB_JOB")),
            GitHubRunId = NullIfEmpty(env("GITHUB_RUN_ID")),
            HostName = NullIfEmpty(hostName ?? Environment.MachineName),
        };
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}

/// <summary>Which runs to list: optionally only those of one repository/workflow/job/runner host; newest first, at most <see cref="Limit"/>.</summary>
public sealed record RunFilter
{
    public static readonly RunFilter All = new();

    public string? Repository { get; init; }

    public string? Workflow { get; init; }

    public string? Job { get; init; }

    /// <summary>Only runs recorded on this runner host (<see cref="RunInfo.HostName"/>).</summary>
    public string? HostName { get; init; }

    public int? Limit { get; init; }
}
