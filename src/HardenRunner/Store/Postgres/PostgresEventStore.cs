using System.Globalization;
using System.Runtime.CompilerServices;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using Npgsql;
using NpgsqlTypes;

namespace HardenRunner.Store.Postgres;

/// <summary>
/// The PostgreSQL store, for fleets: many runners write to one database (docs/store.md). Same schema, same codec and
/// the same contract as <see cref="SqliteEventStore"/>. Each append is one transaction that loads its events with
/// binary COPY; appends to the same run are serialised across every process by a transaction-scoped advisory lock on
/// the run id (a run's batches stay contiguous and in order), appends to different runs proceed in parallel. The schema
/// is migrated on first use (<see cref="PostgresMigrations"/>), so a store can be created while the server is down.
/// Errors are <see cref="StoreException"/>s naming the store by <see cref="PostgresStoreUri.Display"/>, never with the password.
/// </summary>
public sealed class PostgresEventStore : IEventStore
{
    private const string UniqueViolation = "23505";
    private const string ForeignKeyViolation = "23503";

    private static readonly string[] CopyColumns =
    [
        "run_id", "time", "kind", "net_kind", "host", "address", "port", "decision", "action", "method", "path",
        "operation", "detection_type", "severity", "pid", "step_action", "data",
    ];

    private static readonly string CopyCommand = $"COPY events ({string.Join(", ", CopyColumns)}) FROM STDIN (FORMAT BINARY)";

    private readonly NpgsqlDataSource _source;
    private readonly SemaphoreSlim _migrateLock = new(1, 1);
    private volatile bool _migrated;
    private int _schemaVersion;
    private bool _disposed;

    private PostgresEventStore(PostgresStoreUri location, NpgsqlDataSource source)
    {
        Location = location;
        _source = source;
    }

    /// <summary>Where the store is (its <see cref="PostgresStoreUri.Display"/> form has no password).</summary>
    public PostgresStoreUri Location { get; }

    /// <summary>The schema version after migration, 0 until the first successful use.</summary>
    public int SchemaVersion => Volatile.Read(ref _schemaVersion);

    /// <summary>A store at <paramref name="location"/>; connects (and migrates) on first use.</summary>
    public static PostgresEventStore Create(PostgresStoreUri location)
    {
        ArgumentNullException.ThrowIfNull(location);
        return new PostgresEventStore(location, NpgsqlDataSource.Create(location.ToConnectionString("harden-runner")));
    }

    /// <summary>A store at <paramref name="location"/>, connected and migrated; throws <see cref="StoreException"/> when it cannot be.</summary>
    public static async Task<PostgresEventStore> OpenAsync(PostgresStoreUri location, CancellationToken cancellationToken = default)
    {
        var store = Create(location);
        try
        {
            await store.EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
            return store;
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Connects and migrates the schema unless that was done already.</summary>
    public async Task EnsureSchemaAsync(CancellationToken cancellationToken = default)
    {
        if (_migrated)
        {
            return;
        }

        await _migrateLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_migrated)
            {
                return;
            }

            await Guard("open", async () =>
            {
                await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref _schemaVersion, await PostgresMigrations.MigrateAsync(connection, null, cancellationToken).ConfigureAwait(false));
            }).ConfigureAwait(false);
            _migrated = true;
        }
        finally
        {
            _migrateLock.Release();
        }
    }

    public async Task BeginRunAsync(RunInfo run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrEmpty(run.Id);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Guard($"record run '{run.Id}'", async () =>
            {
                await using var cmd = _source.CreateCommand("""
                    INSERT INTO runs (id, started_at, ended_at, mode, repository, workflow, job, github_run_id, events_lost, host_name)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    """);
                cmd.Parameters.Add(Text(run.Id));
                cmd.Parameters.Add(Text(EventCodec.FormatTime(run.StartedAt)));
                cmd.Parameters.Add(Text(run.EndedAt is { } e ? EventCodec.FormatTime(e) : null));
                cmd.Parameters.Add(Text(SqliteEventStore.ModeText(run.Mode)));
                cmd.Parameters.Add(Text(run.Repository));
                cmd.Parameters.Add(Text(run.Workflow));
                cmd.Parameters.Add(Text(run.Job));
                cmd.Parameters.Add(Text(run.GitHubRunId));
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = run.EventsLost });
                cmd.Parameters.Add(Text(run.HostName));
                await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        catch (StoreException ex) when (ex.InnerException is PostgresException { SqlState: UniqueViolation })
        {
            throw new StoreException($"a run with id '{run.Id}' is already in the store {Location.Display}", ex.InnerException);
        }
    }

    public async Task UpdateRunAsync(RunInfo run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrEmpty(run.Id);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        var updated = await Guard($"update run '{run.Id}'", async () =>
        {
            await using var cmd = _source.CreateCommand("UPDATE runs SET mode = $1, repository = $2, workflow = $3, job = $4, github_run_id = $5 WHERE id = $6");
            cmd.Parameters.Add(Text(SqliteEventStore.ModeText(run.Mode)));
            cmd.Parameters.Add(Text(run.Repository));
            cmd.Parameters.Add(Text(run.Workflow));
            cmd.Parameters.Add(Text(run.Job));
            cmd.Parameters.Add(Text(run.GitHubRunId));
            cmd.Parameters.Add(Text(run.Id));
            return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        if (updated == 0)
        {
            throw new StoreException($"unknown run '{run.Id}'");
        }
    }

    public async Task AppendAsync(string runId, IReadOnlyList<ApplianceEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            return;
        }

        // encode (and redact) first: an unsupported event fails the call before anything is sent
        var encoded = EventCodec.EncodeAll(events);

        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Guard($"append {events.Count} event(s) to run '{runId}'", async () =>
            {
                await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (var lockRun = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", connection, tx))
                {
                    lockRun.Parameters.Add(Text(runId));
                    await lockRun.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await using (var copy = await connection.BeginBinaryImportAsync(CopyCommand, cancellationToken).ConfigureAwait(false))
                {
                    foreach (var e in encoded)
                    {
                        await WriteRowAsync(copy, runId, e, cancellationToken).ConfigureAwait(false);
                    }

                    await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }

                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }).ConfigureAwait(false);
        }
        catch (StoreException ex) when (ex.InnerException is PostgresException { SqlState: ForeignKeyViolation })
        {
            throw new StoreException($"unknown run '{runId}': begin the run before appending events", ex.InnerException);
        }
    }

    public async Task EndRunAsync(string runId, DateTimeOffset endedAt, long eventsLost, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        var updated = await Guard($"end run '{runId}'", async () =>
        {
            await using var cmd = _source.CreateCommand("UPDATE runs SET ended_at = $1, events_lost = $2 WHERE id = $3");
            cmd.Parameters.Add(Text(EventCodec.FormatTime(endedAt)));
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = eventsLost });
            cmd.Parameters.Add(Text(runId));
            return await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        if (updated == 0)
        {
            throw new StoreException($"unknown run '{runId}'");
        }
    }

    public async Task<RunInfo?> GetRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        var runs = await QueryRunsAsync("WHERE id = $1", [runId], null, cancellationToken).ConfigureAwait(false);
        return runs.Count == 0 ? null : runs[0];
    }

    public Task<IReadOnlyList<RunInfo>> ListRunsAsync(RunFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var where = new List<string>();
        var args = new List<string>();
        void Add(string column, string? value)
        {
            if (value is not null)
            {
                args.Add(value);
                where.Add(string.Create(CultureInfo.InvariantCulture, $"{column} = ${args.Count}"));
            }
        }

        Add("repository", filter.Repository);
        Add("workflow", filter.Workflow);
        Add("job", filter.Job);
        Add("host_name", filter.HostName);
        return QueryRunsAsync(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where), args, filter.Limit, cancellationToken);
    }

    public async IAsyncEnumerable<StoredEvent> ReadEventsAsync(string runId, EventKind kind, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        var (connection, cmd, reader) = await Guard($"read run '{runId}'", async () =>
        {
            var c = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            var q = new NpgsqlCommand("SELECT seq, time, data FROM events WHERE run_id = $1 AND kind = $2 ORDER BY seq", c);
            q.Parameters.Add(Text(runId));
            q.Parameters.Add(Text(EventKinds.Name(kind)));
            try
            {
                return (c, q, await q.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false));
            }
            catch
            {
                await q.DisposeAsync().ConfigureAwait(false);
                await c.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }).ConfigureAwait(false);
        await using (connection)
        await using (cmd)
        await using (reader)
        {
            var cache = new DecodeCache();
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var e = EventCodec.Decode(kind, EventCodec.ParseTime(reader.GetString(1)), reader.GetString(2), cache);
                yield return new StoredEvent(reader.GetInt64(0), runId, e);
            }
        }
    }

    public async Task<long> CountEventsAsync(string runId, EventKind? kind = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        return await Guard($"count the events of run '{runId}'", async () =>
        {
            await using var cmd = _source.CreateCommand(kind is null
                ? "SELECT COUNT(*) FROM events WHERE run_id = $1"
                : "SELECT COUNT(*) FROM events WHERE run_id = $1 AND kind = $2");
            cmd.Parameters.Add(Text(runId));
            if (kind is { } k)
            {
                cmd.Parameters.Add(Text(EventKinds.Name(k)));
            }

            return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _source.DisposeAsync().ConfigureAwait(false);
        _migrateLock.Dispose();
    }

    private static NpgsqlParameter Text(string? value) => new() { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)value ?? DBNull.Value };

    private static async Task WriteRowAsync(NpgsqlBinaryImporter copy, string runId, EncodedEvent e, CancellationToken cancellationToken)
    {
        // the order of CopyColumns
        await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
        await copy.WriteAsync(runId, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
        await copy.WriteAsync(EventCodec.FormatTime(e.Time), NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
        await copy.WriteAsync(EventKinds.Name(e.Kind), NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.NetKind, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Host, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Address, cancellationToken).ConfigureAwait(false);
        await WriteIntAsync(copy, e.Port, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Decision, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Action, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Method, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Path, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Operation, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.DetectionType, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.Severity, cancellationToken).ConfigureAwait(false);
        await WriteIntAsync(copy, e.Pid, cancellationToken).ConfigureAwait(false);
        await WriteTextAsync(copy, e.StepAction, cancellationToken).ConfigureAwait(false);
        await copy.WriteAsync(e.Data, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
    }

    private static Task WriteTextAsync(NpgsqlBinaryImporter copy, string? value, CancellationToken cancellationToken) =>
        value is null ? copy.WriteNullAsync(cancellationToken) : copy.WriteAsync(value, NpgsqlDbType.Text, cancellationToken);

    private static Task WriteIntAsync(NpgsqlBinaryImporter copy, int? value, CancellationToken cancellationToken) =>
        value is { } v ? copy.WriteAsync(v, NpgsqlDbType.Integer, cancellationToken) : copy.WriteNullAsync(cancellationToken);

    private async Task<IReadOnlyList<RunInfo>> QueryRunsAsync(string where, IReadOnlyList<string> args, int? limit, CancellationToken cancellationToken)
    {
        await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        return await Guard("list runs", async () =>
        {
            var limitClause = limit is null ? "" : string.Create(CultureInfo.InvariantCulture, $"LIMIT ${args.Count + 1}");
            await using var cmd = _source.CreateCommand($"""
                SELECT id, started_at, ended_at, mode, repository, workflow, job, github_run_id, events_lost, host_name
                FROM runs {where} ORDER BY started_at DESC, id DESC {limitClause}
                """);
            foreach (var a in args)
            {
                cmd.Parameters.Add(Text(a));
            }

            if (limit is { } l)
            {
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = l });
            }

            var runs = new List<RunInfo>();
            await using var r = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                runs.Add(new RunInfo(r.GetString(0), EventCodec.ParseTime(r.GetString(1)), r.GetString(3) == "block" ? EgressMode.Block : EgressMode.Audit)
                {
                    EndedAt = r.IsDBNull(2) ? null : EventCodec.ParseTime(r.GetString(2)),
                    Repository = r.IsDBNull(4) ? null : r.GetString(4),
                    Workflow = r.IsDBNull(5) ? null : r.GetString(5),
                    Job = r.IsDBNull(6) ? null : r.GetString(6),
                    GitHubRunId = r.IsDBNull(7) ? null : r.GetString(7),
                    EventsLost = r.GetInt64(8),
                    HostName = r.IsDBNull(9) ? null : r.GetString(9),
                });
            }

            return (IReadOnlyList<RunInfo>)runs;
        }).ConfigureAwait(false);
    }

    private Task Guard(string what, Func<Task> body) => Guard(what, async () =>
    {
        await body().ConfigureAwait(false);
        return true;
    });

    /// <summary>Runs a database call; driver and network failures become <see cref="StoreException"/>s that name the store (no password).</summary>
    private async Task<T> Guard<T>(string what, Func<Task<T>> body)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            return await body().ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw new StoreException($"cannot {what} in the store {Location.Display}: {ex.SqlState}: {ex.MessageText}", ex);
        }
        catch (NpgsqlException ex)
        {
            throw new StoreException($"cannot {what}: the store {Location.Display} is unreachable: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            throw new StoreException($"cannot {what}: the store {Location.Display} is unreachable: {ex.Message}", ex);
        }
    }
}
