using HardenRunner.Events;

namespace HardenRunner.Store;

/// <summary>
/// Where runs and their events are kept (SQLite on a runner; PostgreSQL for fleets later). Narrow on purpose: every
/// implementation must pass the same contract tests (tests/HardenRunner.Tests/Store/EventStoreContractTests.cs).
/// Implementations redact every event (<see cref="Reporting.EventRedactor"/>) before it is written.
/// </summary>
public interface IEventStore : IAsyncDisposable
{
    /// <summary>Records a new run. Throws <see cref="StoreException"/> when a run with that id exists.</summary>
    Task BeginRunAsync(RunInfo run, CancellationToken cancellationToken = default);

    /// <summary>
    /// Appends events to a run in one transaction: when the task completes, every event is committed (durable, see
    /// docs/store.md) — that is what "acknowledged" means; when it fails, none is. Throws <see cref="StoreException"/>
    /// for an unknown run and <see cref="ArgumentException"/> for an event type the store does not keep.
    /// </summary>
    Task AppendAsync(string runId, IReadOnlyList<ApplianceEvent> events, CancellationToken cancellationToken = default);

    /// <summary>
    /// Updates what describes a running run once it is known better (service mode: the job's egress mode after its
    /// policy file appeared, its GITHUB_* coordinates): mode, repository, workflow, job and GitHub run id. The id,
    /// start, end, host name and lost count are not changed. Throws <see cref="StoreException"/> for an unknown run.
    /// </summary>
    Task UpdateRunAsync(RunInfo run, CancellationToken cancellationToken = default);

    /// <summary>Marks a run ended and records how many of its events could not be stored.</summary>
    Task EndRunAsync(string runId, DateTimeOffset endedAt, long eventsLost, CancellationToken cancellationToken = default);

    /// <summary>One run, or null.</summary>
    Task<RunInfo?> GetRunAsync(string runId, CancellationToken cancellationToken = default);

    /// <summary>Runs matching the filter, newest (by start time) first.</summary>
    Task<IReadOnlyList<RunInfo>> ListRunsAsync(RunFilter filter, CancellationToken cancellationToken = default);

    /// <summary>A run's events of one kind, in the order they were appended.</summary>
    IAsyncEnumerable<StoredEvent> ReadEventsAsync(string runId, EventKind kind, CancellationToken cancellationToken = default);

    /// <summary>How many events a run has (of one kind, or of all kinds).</summary>
    Task<long> CountEventsAsync(string runId, EventKind? kind = null, CancellationToken cancellationToken = default);
}
