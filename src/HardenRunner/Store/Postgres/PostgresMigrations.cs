using System.Globalization;
using Npgsql;

namespace HardenRunner.Store.Postgres;

/// <summary>One step of the PostgreSQL schema: applied once, in order, and recorded in <c>schema_version</c>.</summary>
internal sealed record PostgresMigration(int Version, string Description, string Sql);

/// <summary>
/// The PostgreSQL schema as an ordered list of migrations, numbered like the SQLite ones they mirror (1 runs and
/// events, 2 lost-event count, 3 runner host name); SQLite's 4 (shipping state) is local to a runner and has no
/// counterpart here. The columns, their meaning and the time format are the SQLite store's, so both stores keep the
/// same thing. Migrating takes a transaction-scoped advisory lock: appliances of a fleet that start at the same time
/// against a new database do not migrate it twice. Append new migrations at the end; never edit an applied one.
/// </summary>
internal static class PostgresMigrations
{
    /// <summary>The advisory lock key taken while migrating (an arbitrary constant: "HRstore1").</summary>
    private const long MigrationLockKey = 0x4852_7374_6f72_6531;

    public static readonly IReadOnlyList<PostgresMigration> All =
    [
        new(1, "runs and events", """
            CREATE TABLE runs (
                id            TEXT PRIMARY KEY,
                started_at    TEXT NOT NULL,
                ended_at      TEXT,
                mode          TEXT NOT NULL CHECK (mode IN ('audit', 'block')),
                repository    TEXT,
                workflow      TEXT,
                job           TEXT,
                github_run_id TEXT
            );
            CREATE INDEX runs_started ON runs (started_at);
            CREATE INDEX runs_job ON runs (repository, workflow, job, started_at);
            CREATE TABLE events (
                seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                run_id         TEXT NOT NULL REFERENCES runs (id),
                time           TEXT NOT NULL,
                kind           TEXT NOT NULL CHECK (kind IN ('network', 'file', 'process', 'detection')),
                net_kind       TEXT,
                host           TEXT,
                address        TEXT,
                port           INTEGER,
                decision       TEXT,
                action         TEXT,
                method         TEXT,
                path           TEXT,
                operation      TEXT,
                detection_type TEXT,
                severity       TEXT,
                pid            INTEGER,
                step_action    TEXT,
                data           TEXT NOT NULL
            );
            CREATE INDEX events_run_kind ON events (run_id, kind, seq);
            """),
        new(2, "lost-event count per run", """
            ALTER TABLE runs ADD COLUMN events_lost BIGINT NOT NULL DEFAULT 0;
            """),
        new(3, "runner host name per run", """
            ALTER TABLE runs ADD COLUMN host_name TEXT;
            CREATE INDEX runs_host ON runs (host_name, started_at);
            """),
    ];

    public static int Latest => All[^1].Version;

    /// <summary>The schema version of the database (in the connection's current schema): 0 when it has none of our tables.</summary>
    public static async Task<int> CurrentVersionAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        var tables = new List<string>();
        await using (var probe = new NpgsqlCommand(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name IN ('schema_version', 'runs', 'events')",
            connection,
            transaction))
        {
            await using var r = await probe.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await r.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tables.Add(r.GetString(0));
            }
        }

        if (tables.Count == 0)
        {
            return 0;
        }

        if (!tables.Contains("schema_version"))
        {
            throw new StoreException(
                $"database '{connection.Database}' has tables named {string.Join(", ", tables.Order(StringComparer.Ordinal))} but is not a HardenRunner store (no schema_version)");
        }

        await using var version = new NpgsqlCommand("SELECT COALESCE(MAX(version), 0) FROM schema_version", connection, transaction);
        return Convert.ToInt32(await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <summary>Brings the database to <paramref name="target"/> (default: the latest) in one transaction and returns the version it is at.</summary>
    public static async Task<int> MigrateAsync(NpgsqlConnection connection, int? target = null, CancellationToken cancellationToken = default)
    {
        var goal = target ?? Latest;
        await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecAsync(connection, tx, $"SELECT pg_advisory_xact_lock({MigrationLockKey})", cancellationToken).ConfigureAwait(false);
        var current = await CurrentVersionAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        if (current > Latest)
        {
            throw new StoreException(
                $"database '{connection.Database}' has schema version {current}, newer than this harden-runner supports ({Latest}); use a newer harden-runner");
        }

        if (current >= goal)
        {
            return current;
        }

        await ExecAsync(connection, tx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)", cancellationToken).ConfigureAwait(false);
        foreach (var m in All.Where(m => m.Version > current && m.Version <= goal))
        {
            await ExecAsync(connection, tx, m.Sql, cancellationToken).ConfigureAwait(false);
            await using var record = new NpgsqlCommand("INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)", connection, tx);
            record.Parameters.AddWithValue(m.Version);
            record.Parameters.AddWithValue(m.Description);
            record.Parameters.AddWithValue(EventCodec.FormatTime(DateTimeOffset.UtcNow));
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return goal;
    }

    private static async Task ExecAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken cancellationToken)
    {
        await using var cmd = new NpgsqlCommand(sql, connection, tx);
        await cmd.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
