using System.Globalization;
using System.Runtime.CompilerServices;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using Microsoft.Data.Sqlite;

namespace HardenRunner.Store;

/// <summary>
/// The SQLite store: one database file under the state directory (<see cref="DefaultFileName"/>), WAL journal,
/// <c>synchronous=FULL</c> by default so that an append that returned is on disk — it survives the process being
/// killed (kill -9) and also a power cut (docs/store.md). One writer connection serialises appends; reads use their own
/// connections and see committed data while the appliance writes (another process, e.g. <c>harden-runner report</c>,
/// can read at the same time). The schema is versioned and migrated on open (<see cref="SqliteMigrations"/>).
/// </summary>
public sealed class SqliteEventStore : IEventStore
{
    public const string DefaultFileName = "harden-runner.db";

    private const int SqliteConstraint = 19;

    private readonly string _connectionString;
    private readonly SqliteConnection _writer;
    private readonly SqliteEventInserter _insert;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly HashSet<string> _knownRuns = new(StringComparer.Ordinal);

    // the rows in `processes` of the run last appended to, by the (redacted) process object and by its JSON; only ever
    // holds rows of committed transactions (a failed append forgets them all)
    private string? _processRun;
    private ConditionalWeakTable<ProcessInfo, StrongBox<long>> _processIds = [];
    private readonly Dictionary<string, long> _processIdsByJson = new(StringComparer.Ordinal);
    private bool _disposed;

    private SqliteEventStore(string path, string connectionString, SqliteConnection writer, int schemaVersion, bool durable)
    {
        DatabasePath = path;
        _connectionString = connectionString;
        _writer = writer;
        SchemaVersion = schemaVersion;
        Durable = durable;
        _insert = new SqliteEventInserter(writer);
    }

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }

    /// <summary>The schema version after migration (the latest this program knows).</summary>
    public int SchemaVersion { get; }

    /// <summary>True when commits are fsynced (<c>synchronous=FULL</c>); false means <c>NORMAL</c>: safe against a crash of this process, not of the machine.</summary>
    public bool Durable { get; }

    /// <summary>The database path under a state directory.</summary>
    public static string PathIn(string stateDir) => Path.Combine(stateDir, DefaultFileName);

    /// <summary>
    /// Opens (creating it, mode 0600, when missing) and migrates the database at <paramref name="path"/>. Throws
    /// <see cref="StoreException"/> when the file is not a HardenRunner store, is newer than this program, or cannot be opened.
    /// </summary>
    public static SqliteEventStore Open(string path, bool durable = true)
    {
        _ = ProcessWideConfiguration.Value;
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(dir))
        {
            throw new StoreException($"cannot open the store {full}: the directory {dir} does not exist");
        }

        if (!File.Exists(full))
        {
            // create it private before SQLite does: its -wal and -shm files take the same mode
            try
            {
                using var created = new FileStream(full, new FileStreamOptions
                {
                    Mode = FileMode.CreateNew,
                    Access = FileAccess.Write,
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
            }
            catch (IOException) when (File.Exists(full))
            {
                // another process created it first
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new StoreException($"cannot create the store {full}: {ex.Message}", ex);
            }
        }

        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = 30,
        }.ToString();
        var writer = new SqliteConnection(connectionString);
        try
        {
            writer.Open();
            var mode = Scalar(writer, "PRAGMA journal_mode=WAL");
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new StoreException($"cannot put the store {full} in WAL mode (journal_mode is {mode})");
            }

            Exec(writer, $"PRAGMA synchronous={(durable ? "FULL" : "NORMAL")}; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;");
            var version = SqliteMigrations.Migrate(writer);
            return new SqliteEventStore(full, connectionString, writer, version, durable);
        }
        catch (SqliteException ex)
        {
            writer.Dispose();
            throw new StoreException($"cannot open the store {full}: {ex.Message}", ex);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    public async Task BeginRunAsync(RunInfo run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrEmpty(run.Id);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _writer.CreateCommand();
            cmd.CommandText = """
                INSERT INTO runs (id, started_at, ended_at, mode, repository, workflow, job, github_run_id, events_lost, host_name)
                VALUES ($id, $started, $ended, $mode, $repo, $workflow, $job, $runid, $lost, $host)
                """;
            cmd.Parameters.AddWithValue("$id", run.Id);
            cmd.Parameters.AddWithValue("$started", EventCodec.FormatTime(run.StartedAt));
            cmd.Parameters.AddWithValue("$ended", run.EndedAt is { } e ? EventCodec.FormatTime(e) : DBNull.Value);
            cmd.Parameters.AddWithValue("$mode", ModeText(run.Mode));
            cmd.Parameters.AddWithValue("$repo", (object?)run.Repository ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$workflow", (object?)run.Workflow ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$job", (object?)run.Job ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$runid", (object?)run.GitHubRunId ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$lost", run.EventsLost);
            cmd.Parameters.AddWithValue("$host", (object?)run.HostName ?? DBNull.Value);
            cmd.ExecuteNonQuery();
            _knownRuns.Add(run.Id);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteConstraint)
        {
            throw new StoreException($"a run with id '{run.Id}' is already in the store", ex);
        }
        catch (SqliteException ex)
        {
            throw new StoreException($"cannot record run '{run.Id}': {ex.Message}", ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task UpdateRunAsync(RunInfo run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentException.ThrowIfNullOrEmpty(run.Id);
        return UpdateRunRowAsync(
            run.Id,
            "update",
            "UPDATE runs SET mode = $mode, repository = $repo, workflow = $workflow, job = $job, github_run_id = $runid WHERE id = $id",
            p =>
            {
                p.AddWithValue("$mode", ModeText(run.Mode));
                p.AddWithValue("$repo", (object?)run.Repository ?? DBNull.Value);
                p.AddWithValue("$workflow", (object?)run.Workflow ?? DBNull.Value);
                p.AddWithValue("$job", (object?)run.Job ?? DBNull.Value);
                p.AddWithValue("$runid", (object?)run.GitHubRunId ?? DBNull.Value);
            },
            cancellationToken);
    }

    public async Task AppendAsync(string runId, IReadOnlyList<ApplianceEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            return;
        }

        // encode (and redact) before taking the lock: an unsupported event fails the call before anything is written
        var encoded = EventCodec.EncodeAll(events, separateProcess: true);

        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_knownRuns.Contains(runId))
            {
                if (!RunExists(runId))
                {
                    throw new StoreException($"unknown run '{runId}': begin the run before appending events");
                }

                _knownRuns.Add(runId);
            }

            if (!string.Equals(_processRun, runId, StringComparison.Ordinal))
            {
                ForgetProcessIds();
                _processRun = runId;
            }

            using var tx = _writer.BeginTransaction(deferred: false);
            try
            {
                foreach (var e in encoded)
                {
                    _insert.Insert(runId, e, e.SeparateProcess is { } p ? ProcessId(tx, runId, p) : null);
                }

                tx.Commit();
            }
            catch
            {
                // the process rows this transaction added are rolled back with it
                ForgetProcessIds();
                throw;
            }
        }
        catch (SqliteException ex)
        {
            throw new StoreException($"cannot append {events.Count} event(s) to run '{runId}': {ex.Message}", ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task EndRunAsync(string runId, DateTimeOffset endedAt, long eventsLost, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        return UpdateRunRowAsync(
            runId,
            "end",
            "UPDATE runs SET ended_at = $ended, events_lost = $lost WHERE id = $id",
            p =>
            {
                p.AddWithValue("$ended", EventCodec.FormatTime(endedAt));
                p.AddWithValue("$lost", eventsLost);
            },
            cancellationToken);
    }

    public async Task<RunInfo?> GetRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        var runs = await QueryRunsAsync("WHERE id = $id", [("$id", runId)], null, cancellationToken).ConfigureAwait(false);
        return runs.Count == 0 ? null : runs[0];
    }

    public Task<IReadOnlyList<RunInfo>> ListRunsAsync(RunFilter filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var where = new List<string>();
        var args = new List<(string, object)>();
        if (filter.Repository is not null)
        {
            where.Add("repository = $repo");
            args.Add(("$repo", filter.Repository));
        }

        if (filter.Workflow is not null)
        {
            where.Add("workflow = $workflow");
            args.Add(("$workflow", filter.Workflow));
        }

        if (filter.Job is not null)
        {
            where.Add("job = $job");
            args.Add(("$job", filter.Job));
        }

        if (filter.HostName is not null)
        {
            where.Add("host_name = $host");
            args.Add(("$host", filter.HostName));
        }

        return QueryRunsAsync(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where), args, filter.Limit, cancellationToken);
    }

    public async IAsyncEnumerable<StoredEvent> ReadEventsAsync(string runId, EventKind kind, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = $"{SelectEvents()} WHERE e.run_id = $run AND e.kind = $kind ORDER BY e.seq";
        cmd.Parameters.AddWithValue("$run", runId);
        cmd.Parameters.AddWithValue("$kind", EventKinds.Name(kind));
        await using var reader = await cmd.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var cache = new DecodeCache();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return new StoredEvent(reader.GetInt64(0), runId, DecodeRow(reader, kind, cache));
        }
    }

    /// <summary>
    /// What every read of events selects, for <see cref="DecodeRow"/>: seq, time, data, process_id and the referenced
    /// process's JSON (columns 0–4; a query may add its own after them). Rows written before schema version 5 have no
    /// process_id and carry their process inside data.
    /// </summary>
    internal static string SelectEvents(string moreColumns = "") =>
        $"SELECT e.seq, e.time, e.data, e.process_id, p.data{moreColumns} FROM events e LEFT JOIN processes p ON p.id = e.process_id";

    /// <summary>Decodes a row selected by <see cref="SelectEvents"/>. Throws <see cref="StoreException"/> for malformed data.</summary>
    internal static ApplianceEvent DecodeRow(SqliteDataReader row, EventKind kind, DecodeCache cache)
    {
        var process = row.IsDBNull(3) ? null : cache.StoredProcess(row.GetInt64(3), row, 4);
        return EventCodec.Decode(kind, EventCodec.ParseTime(row.GetString(1)), row.GetString(2), cache, process);
    }

    public async Task<long> CountEventsAsync(string runId, EventKind? kind = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = kind is null
            ? "SELECT COUNT(*) FROM events WHERE run_id = $run"
            : "SELECT COUNT(*) FROM events WHERE run_id = $run AND kind = $kind";
        cmd.Parameters.AddWithValue("$run", runId);
        if (kind is { } k)
        {
            cmd.Parameters.AddWithValue("$kind", EventKinds.Name(k));
        }

        return Convert.ToInt64(await cmd.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _insert.Dispose();
            await _writer.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    internal static string ModeText(EgressMode mode) => mode == EgressMode.Block ? "block" : "audit";

    /// <summary>
    /// The row in <c>processes</c> for <paramref name="process"/> in run <paramref name="runId"/>: a run's thousands of
    /// events per process reference one row rather than each repeating its command line and ancestors (about three
    /// quarters of a DNS event's JSON). Found by the object (attribution and redaction share one per process), then by
    /// its JSON; else inserted in the caller's transaction.
    /// </summary>
    private long ProcessId(SqliteTransaction tx, string runId, ProcessInfo process)
    {
        if (_processIds.TryGetValue(process, out var known))
        {
            return known.Value;
        }

        var json = System.Text.Encoding.UTF8.GetString(EventCodec.ProcessJson(process));
        if (!_processIdsByJson.TryGetValue(json, out var id))
        {
            using var cmd = _writer.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT INTO processes (run_id, data) VALUES ($run, $data) RETURNING id";
            cmd.Parameters.AddWithValue("$run", runId);
            cmd.Parameters.AddWithValue("$data", json);
            id = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
            if (_processIdsByJson.Count >= DecodeCache.Capacity)
            {
                _processIdsByJson.Clear();
            }

            _processIdsByJson[json] = id;
        }

        _processIds.AddOrUpdate(process, new StrongBox<long>(id));
        return id;
    }

    private void ForgetProcessIds()
    {
        _processIds = [];
        _processIdsByJson.Clear();
    }

    /// <summary>Runs one UPDATE of the run <paramref name="runId"/> (<c>$id</c>) on the writer; an unknown run is an error.</summary>
    private async Task UpdateRunRowAsync(string runId, string verb, string sql, Action<SqliteParameterCollection> bind, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var cmd = _writer.CreateCommand();
            cmd.CommandText = sql;
            cmd.Parameters.AddWithValue("$id", runId);
            bind(cmd.Parameters);
            if (cmd.ExecuteNonQuery() == 0)
            {
                throw new StoreException($"unknown run '{runId}'");
            }
        }
        catch (SqliteException ex)
        {
            throw new StoreException($"cannot {verb} run '{runId}': {ex.Message}", ex);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private bool RunExists(string runId)
    {
        using var cmd = _writer.CreateCommand();
        cmd.CommandText = "SELECT 1 FROM runs WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", runId);
        return cmd.ExecuteScalar() is not null;
    }

    private async Task<IReadOnlyList<RunInfo>> QueryRunsAsync(string where, IEnumerable<(string Name, object Value)> args, int? limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var cmd = connection.CreateCommand();
        cmd.CommandText = $"""
            SELECT id, started_at, ended_at, mode, repository, workflow, job, github_run_id, events_lost, host_name
            FROM runs {where} ORDER BY started_at DESC, rowid DESC {(limit is null ? "" : "LIMIT $limit")}
            """;
        foreach (var (name, value) in args)
        {
            cmd.Parameters.AddWithValue(name, value);
        }

        if (limit is { } l)
        {
            cmd.Parameters.AddWithValue("$limit", l);
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

        return runs;
    }

    private async Task<SqliteConnection> OpenReaderAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            Exec(connection, "PRAGMA busy_timeout=10000; PRAGMA query_only=1;");
            return connection;
        }
        catch (SqliteException ex)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new StoreException($"cannot read the store {DatabasePath}: {ex.Message}", ex);
        }
    }

    private static string? Scalar(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToString(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// SQLite's process-wide settings, set once before the first connection of the process opens (SQLite refuses them
    /// afterwards; then the defaults stay, which only costs speed): no memory statistics (by default every allocation
    /// takes a global mutex to count itself) and the multi-thread mode (no mutex around each call on a connection or
    /// statement: the store never uses one connection from two threads at once — the writer is behind its lock and each
    /// read opens its own). Returns whether SQLite took them.
    /// </summary>
    private static readonly Lazy<bool> ProcessWideConfiguration = new(() =>
    {
        SQLitePCL.Batteries_V2.Init();
        var memstatus = SQLitePCL.raw.sqlite3_config(SQLitePCL.raw.SQLITE_CONFIG_MEMSTATUS, 0);
        var threading = SQLitePCL.raw.sqlite3_config(SQLitePCL.raw.SQLITE_CONFIG_MULTITHREAD);
        return memstatus == SQLitePCL.raw.SQLITE_OK && threading == SQLitePCL.raw.SQLITE_OK;
    });
}
