using System.Globalization;
using HardenRunner.Events;
using Microsoft.Data.Sqlite;

namespace HardenRunner.Store.Fleet;

/// <summary>Tuning of <see cref="FleetEventStore"/>.</summary>
public sealed record FleetShippingOptions
{
    /// <summary>Most events kept locally that the fleet database does not have yet; past it, appends are refused (and counted lost by the sink).</summary>
    public long MaxBacklog { get; init; } = 1_000_000;

    /// <summary>Most events shipped in one remote transaction.</summary>
    public int BatchSize { get; init; } = 2_000;

    /// <summary>First wait after the fleet database failed; doubles up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan MinRetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often an idle shipper looks for work nobody signalled.</summary>
    public TimeSpan IdlePoll { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long dispose waits for the backlog to reach the fleet database; what is left ships at the next start.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// The appliance's store in fleet mode: every write goes to the local SQLite store under the state directory first
/// (durable, fast, independent of the network), and a background shipper forwards runs and events to the fleet
/// database (the remote store, PostgreSQL) in batches, in order. When the fleet database is unreachable the
/// appliance is not slowed or blocked: events wait in the local file (at most <see cref="FleetShippingOptions.MaxBacklog"/>)
/// and are shipped when it returns. Every event arrives exactly once: the shipper records in the local file how far
/// each run has been shipped (<c>ship_state</c>), and after any failure — including a commit whose answer was lost,
/// or an appliance that died between the remote commit and the local record — it first asks the fleet database how
/// many events of the run it holds and skips those. (A run's events in the fleet database come only from the
/// appliance that recorded it: run ids are unique.) Reads are served from the local store.
/// </summary>
public sealed class FleetEventStore : IEventStore
{
    private const long BegunNever = 0;
    private const long BegunCurrent = 1;

    private readonly SqliteEventStore _local;
    private readonly IEventStore _remote;
    private readonly FleetShippingOptions _options;
    private readonly SqliteConnection _state;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _stateLock = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<string> _reconcile = new(StringComparer.Ordinal);
    private readonly Task _shipper;
    private long _backlog;
    private long _shipped;
    private long _remoteFailures;
    private string? _lastError;
    private int _reachable;
    private int _idle;
    private bool _disposed;

    private FleetEventStore(SqliteEventStore local, IEventStore remote, string target, FleetShippingOptions options, SqliteConnection state, long backlog)
    {
        _local = local;
        _remote = remote;
        Target = target;
        _options = options;
        _state = state;
        _backlog = backlog;
        _shipper = Task.Run(ShipLoopAsync);
    }

    /// <summary>The fleet database as shown to people (no password).</summary>
    public string Target { get; }

    /// <summary>The local store (the buffer and this runner's own record).</summary>
    public SqliteEventStore Local => _local;

    /// <summary>The fleet database, read directly (e.g. for a job's runs on other runners); calls may throw <see cref="StoreException"/> while it is unreachable.</summary>
    public IEventStore Remote => _remote;

    /// <summary>Events stored locally and not yet in the fleet database.</summary>
    public long Backlog => Interlocked.Read(ref _backlog);

    /// <summary>Events shipped by this instance.</summary>
    public long Shipped => Interlocked.Read(ref _shipped);

    /// <summary>Times the fleet database failed a shipping step.</summary>
    public long RemoteFailures => Interlocked.Read(ref _remoteFailures);

    /// <summary>Whether the last shipping step reached the fleet database.</summary>
    public bool Reachable => Volatile.Read(ref _reachable) == 1;

    /// <summary>The last shipping error (names the database without its password).</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>
    /// Wraps <paramref name="local"/> and ships to <paramref name="remote"/>; <paramref name="target"/> names the remote
    /// (no password) and keys the shipping state, so runs recorded for another database are not sent here. Runs of
    /// this target left unshipped by an earlier appliance are resumed. Both stores are owned and disposed by this one.
    /// </summary>
    public static FleetEventStore Open(SqliteEventStore local, IEventStore remote, string target, FleetShippingOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentException.ThrowIfNullOrEmpty(target);
        var state = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = local.DatabasePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString());
        try
        {
            state.Open();
            Exec(state, "PRAGMA busy_timeout=10000; PRAGMA synchronous=FULL;");
            long backlog;
            using (var count = state.CreateCommand())
            {
                count.CommandText = "SELECT COUNT(*) FROM events e JOIN ship_state s ON e.run_id = s.run_id WHERE s.target = $t AND e.seq > s.shipped_seq";
                count.Parameters.AddWithValue("$t", target);
                backlog = Convert.ToInt64(count.ExecuteScalar(), CultureInfo.InvariantCulture);
            }

            // the command is finalized before the shipper starts: from here on only the shipper's lock guards the
            // connection, and SQLite's multi-thread mode has no mutex of its own around it (a statement finalized on
            // this thread while the shipper prepared one on another corrupted SQLite's heap: SIGSEGV at start)
            return new FleetEventStore(local, remote, target, options ?? new FleetShippingOptions(), state, backlog);
        }
        catch (SqliteException ex)
        {
            state.Dispose();
            throw new StoreException($"cannot open the shipping state in {local.DatabasePath}: {ex.Message}", ex);
        }
    }

    public async Task BeginRunAsync(RunInfo run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        await _local.BeginRunAsync(run, cancellationToken).ConfigureAwait(false);
        await LocalAsync(() =>
        {
            using var cmd = _state.CreateCommand();
            cmd.CommandText = "INSERT INTO ship_state (run_id, target) VALUES ($r, $t)";
            cmd.Parameters.AddWithValue("$r", run.Id);
            cmd.Parameters.AddWithValue("$t", Target);
            cmd.ExecuteNonQuery();
        }).ConfigureAwait(false);
        Wake();
    }

    public async Task AppendAsync(string runId, IReadOnlyList<ApplianceEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var backlog = Backlog;
        if (backlog + events.Count > _options.MaxBacklog)
        {
            throw new StoreException(
                $"the local buffer for {Target} is full: {backlog} event(s) not yet shipped (limit {_options.MaxBacklog}); last error: {LastError ?? "none"}");
        }

        await _local.AppendAsync(runId, events, cancellationToken).ConfigureAwait(false);
        Interlocked.Add(ref _backlog, events.Count);
        Wake();
    }

    public async Task UpdateRunAsync(RunInfo run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        await _local.UpdateRunAsync(run, cancellationToken).ConfigureAwait(false);
        // the shipper sends the new description (or begins the run with it); each update bumps the marker, so one that
        // lands while the shipper sends an older one is sent too
        await UpdateAsync(run.Id, "begun = CASE WHEN begun < 2 THEN 2 ELSE begun + 1 END").ConfigureAwait(false);
        Wake();
    }

    public async Task EndRunAsync(string runId, DateTimeOffset endedAt, long eventsLost, CancellationToken cancellationToken = default)
    {
        await _local.EndRunAsync(runId, endedAt, eventsLost, cancellationToken).ConfigureAwait(false);
        Wake();
    }

    public Task<RunInfo?> GetRunAsync(string runId, CancellationToken cancellationToken = default) => _local.GetRunAsync(runId, cancellationToken);

    public Task<IReadOnlyList<RunInfo>> ListRunsAsync(RunFilter filter, CancellationToken cancellationToken = default) => _local.ListRunsAsync(filter, cancellationToken);

    public IAsyncEnumerable<StoredEvent> ReadEventsAsync(string runId, EventKind kind, CancellationToken cancellationToken = default) => _local.ReadEventsAsync(runId, kind, cancellationToken);

    public Task<long> CountEventsAsync(string runId, EventKind? kind = null, CancellationToken cancellationToken = default) => _local.CountEventsAsync(runId, kind, cancellationToken);

    /// <summary>Waits until everything recorded so far (runs, events, ends) is in the fleet database, or the timeout passes; true when it is.</summary>
    public async Task<bool> WaitShippedAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        Wake();
        while (DateTime.UtcNow < deadline)
        {
            if (Volatile.Read(ref _idle) == 1 && Backlog == 0 && !await HasPendingRunsAsync().ConfigureAwait(false))
            {
                return true;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        try
        {
            await WaitShippedAsync(_options.DrainTimeout).ConfigureAwait(false);
        }
        catch (StoreException)
        {
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Wake();
        try
        {
            await _shipper.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await _state.DisposeAsync().ConfigureAwait(false);
        await _remote.DisposeAsync().ConfigureAwait(false);
        await _local.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _wake.Dispose();
    }

    /// <summary>Tells the shipper there is work (one pending signal at most).</summary>
    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception ex) when (ex is SemaphoreFullException or ObjectDisposedException)
        {
        }
    }

    private async Task ShipLoopAsync()
    {
        var token = _stop.Token;
        var delay = _options.MinRetryDelay;

        // after a restart the previous appliance may have died between a remote commit and its local record
        var reconcileAll = true;
        while (!token.IsCancellationRequested)
        {
            bool worked;
            try
            {
                Volatile.Write(ref _idle, 0);
                if (reconcileAll)
                {
                    foreach (var run in await PendingRunsAsync().ConfigureAwait(false))
                    {
                        _reconcile.Add(run.RunId);
                    }

                    reconcileAll = false;
                }

                worked = await ShipOnceAsync(token).ConfigureAwait(false);
                Volatile.Write(ref _reachable, 1);
                delay = _options.MinRetryDelay;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // whatever failed (the database, the network, the local file), the shipper keeps going; the outcome
                // of the step in flight is unknown, so every run is reconciled before more of it is shipped
                Volatile.Write(ref _lastError, ex.Message);
                Volatile.Write(ref _reachable, 0);
                Interlocked.Increment(ref _remoteFailures);
                reconcileAll = true;

                await WaitAsync(delay, token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
                continue;
            }

            if (!worked)
            {
                Volatile.Write(ref _idle, 1);
                await WaitAsync(_options.IdlePoll, token).ConfigureAwait(false);
            }
        }
    }

    private async Task WaitAsync(TimeSpan delay, CancellationToken token)
    {
        try
        {
            await _wake.WaitAsync(delay, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One pass over the runs still to ship: at most one batch per run. True when anything was sent.</summary>
    private async Task<bool> ShipOnceAsync(CancellationToken token)
    {
        var worked = false;
        foreach (var state in await PendingRunsAsync().ConfigureAwait(false))
        {
            token.ThrowIfCancellationRequested();
            var run = await _local.GetRunAsync(state.RunId, token).ConfigureAwait(false);
            if (run is null)
            {
                continue;
            }

            var s = state;
            if (s.Begun != BegunCurrent)
            {
                // not begun remotely yet (0), or its description changed since (UpdateRunAsync: 2 and up)
                if (await _remote.GetRunAsync(run.Id, token).ConfigureAwait(false) is null)
                {
                    await _remote.BeginRunAsync(run with { EndedAt = null, EventsLost = 0 }, token).ConfigureAwait(false);
                }
                else if (s.Begun != BegunNever)
                {
                    await _remote.UpdateRunAsync(run, token).ConfigureAwait(false);
                }

                // only if no update came in meanwhile; otherwise the next pass sends that one
                await UpdateAsync(run.Id, $"begun = {BegunCurrent}", $"begun = {s.Begun}").ConfigureAwait(false);
                s = s with { Begun = BegunCurrent };
                worked = true;
            }

            if (_reconcile.Contains(run.Id))
            {
                s = await ReconcileAsync(s, token).ConfigureAwait(false);
                _reconcile.Remove(run.Id);
            }

            var batch = await ReadBatchAsync(run.Id, s.ShippedSeq).ConfigureAwait(false);
            if (batch.Count > 0)
            {
                await _remote.AppendAsync(run.Id, [.. batch.Select(b => b.Event)], token).ConfigureAwait(false);
                var last = batch[^1].Seq;
                await LocalAsync(() =>
                {
                    using var cmd = _state.CreateCommand();
                    cmd.CommandText = "UPDATE ship_state SET shipped_seq = $s, shipped_count = shipped_count + $n WHERE run_id = $r";
                    cmd.Parameters.AddWithValue("$s", last);
                    cmd.Parameters.AddWithValue("$n", batch.Count);
                    cmd.Parameters.AddWithValue("$r", run.Id);
                    cmd.ExecuteNonQuery();
                }).ConfigureAwait(false);
                Interlocked.Add(ref _backlog, -batch.Count);
                Interlocked.Add(ref _shipped, batch.Count);
                worked = true;
                continue;
            }

            if (run.EndedAt is { } ended)
            {
                await _remote.EndRunAsync(run.Id, ended, run.EventsLost, token).ConfigureAwait(false);
                await UpdateAsync(run.Id, "ended = 1").ConfigureAwait(false);
                worked = true;
            }
        }

        return worked;
    }

    /// <summary>Skips the events of a run that the fleet database already holds (shipped, but not recorded locally as shipped).</summary>
    private async Task<ShipState> ReconcileAsync(ShipState s, CancellationToken token)
    {
        var remote = await _remote.CountEventsAsync(s.RunId, null, token).ConfigureAwait(false);
        var extra = remote - s.ShippedCount;
        if (extra <= 0)
        {
            if (extra < 0)
            {
                Volatile.Write(ref _lastError, $"run '{s.RunId}': {Target} holds {remote} event(s) but {s.ShippedCount} were shipped to it; shipping goes on");
            }

            return s;
        }

        var seq = await LocalAsync(() =>
        {
            using var cmd = _state.CreateCommand();
            cmd.CommandText = "SELECT seq FROM events WHERE run_id = $r AND seq > $s ORDER BY seq LIMIT 1 OFFSET $o";
            cmd.Parameters.AddWithValue("$r", s.RunId);
            cmd.Parameters.AddWithValue("$s", s.ShippedSeq);
            cmd.Parameters.AddWithValue("$o", extra - 1);
            return cmd.ExecuteScalar() is { } v ? Convert.ToInt64(v, CultureInfo.InvariantCulture) : (long?)null;
        }).ConfigureAwait(false);
        if (seq is not { } newSeq)
        {
            Volatile.Write(ref _lastError, $"run '{s.RunId}': {Target} holds more events ({remote}) than were recorded locally; shipping goes on");
            return s;
        }

        await LocalAsync(() =>
        {
            using var cmd = _state.CreateCommand();
            cmd.CommandText = "UPDATE ship_state SET shipped_seq = $s, shipped_count = $c WHERE run_id = $r";
            cmd.Parameters.AddWithValue("$s", newSeq);
            cmd.Parameters.AddWithValue("$c", remote);
            cmd.Parameters.AddWithValue("$r", s.RunId);
            cmd.ExecuteNonQuery();
        }).ConfigureAwait(false);
        Interlocked.Add(ref _backlog, -extra);
        return s with { ShippedSeq = newSeq, ShippedCount = remote };
    }

    private Task<List<(long Seq, ApplianceEvent Event)>> ReadBatchAsync(string runId, long afterSeq) => LocalAsync(() =>
    {
        using var cmd = _state.CreateCommand();
        cmd.CommandText = $"{SqliteEventStore.SelectEvents(", e.kind")} WHERE e.run_id = $r AND e.seq > $s ORDER BY e.seq LIMIT $n";
        cmd.Parameters.AddWithValue("$r", runId);
        cmd.Parameters.AddWithValue("$s", afterSeq);
        cmd.Parameters.AddWithValue("$n", _options.BatchSize);
        var result = new List<(long, ApplianceEvent)>();
        using var r = cmd.ExecuteReader();
        var cache = new DecodeCache();
        while (r.Read())
        {
            result.Add((r.GetInt64(0), SqliteEventStore.DecodeRow(r, ParseKind(r.GetString(5)), cache)));
        }

        return result;
    });

    /// <summary>Whether a run of this target is not begun remotely yet, or has ended locally but not remotely.</summary>
    private Task<bool> HasPendingRunsAsync() => LocalAsync(() =>
    {
        using var cmd = _state.CreateCommand();
        cmd.CommandText = """
            SELECT EXISTS (SELECT 1 FROM ship_state s JOIN runs r ON r.id = s.run_id
                           WHERE s.target = $t AND (s.begun <> 1 OR (r.ended_at IS NOT NULL AND s.ended = 0)))
            """;
        cmd.Parameters.AddWithValue("$t", Target);
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) != 0;
    });

    /// <summary>Runs of this target not completely shipped: not begun, events not shipped, or an end not shipped.</summary>
    private Task<IReadOnlyList<ShipState>> PendingRunsAsync() => LocalAsync<IReadOnlyList<ShipState>>(() =>
    {
        using var cmd = _state.CreateCommand();
        cmd.CommandText = """
            SELECT s.run_id, s.begun, s.shipped_seq, s.shipped_count
            FROM ship_state s JOIN runs r ON r.id = s.run_id
            WHERE s.target = $t AND (s.begun <> 1 OR s.ended = 0)
            ORDER BY r.started_at
            """;
        cmd.Parameters.AddWithValue("$t", Target);
        var result = new List<ShipState>();
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            result.Add(new ShipState(r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));
        }

        return result;
    });

    private Task UpdateAsync(string runId, string assignment, string? condition = null) => LocalAsync(() =>
    {
        using var cmd = _state.CreateCommand();
        cmd.CommandText = $"UPDATE ship_state SET {assignment} WHERE run_id = $r" + (condition is null ? "" : " AND " + condition);
        cmd.Parameters.AddWithValue("$r", runId);
        cmd.ExecuteNonQuery();
    });

    private Task LocalAsync(Action body) => LocalAsync(() =>
    {
        body();
        return true;
    });

    /// <summary>Runs a statement on the shipping-state connection (one at a time); SQLite errors become <see cref="StoreException"/>s.</summary>
    private async Task<T> LocalAsync<T>(Func<T> body)
    {
        await _stateLock.WaitAsync().ConfigureAwait(false);
        try
        {
            return body();
        }
        catch (SqliteException ex)
        {
            throw new StoreException($"the shipping state in {_local.DatabasePath}: {ex.Message}", ex);
        }
        finally
        {
            _stateLock.Release();
        }
    }

    private static EventKind ParseKind(string text) => text switch
    {
        "network" => EventKind.Network,
        "file" => EventKind.File,
        "process" => EventKind.Process,
        "detection" => EventKind.Detection,
        _ => throw new StoreException($"unknown event kind '{text}' in the local store"),
    };

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary><paramref name="Begun"/>: 0 not begun remotely, 1 begun and current, 2 and up begun but described anew since.</summary>
    private sealed record ShipState(string RunId, long Begun, long ShippedSeq, long ShippedCount);
}
