using System.Globalization;
using Microsoft.Data.Sqlite;

namespace HardenRunner.Store;

/// <summary>One step of the SQLite schema: applied once, in order, and recorded in <c>schema_version</c>.</summary>
internal sealed record SqliteMigration(int Version, string Description, string Sql);

/// <summary>
/// The SQLite schema as an ordered list of migrations. A new database gets all of them; an older one the ones it lacks,
/// all in one transaction (a failure leaves it as it was). A database newer than this program is refused, and so is a
/// SQLite file that is not a HardenRunner store. Append new migrations at the end; never edit an applied one.
/// </summary>
internal static class SqliteMigrations
{
    public static readonly IReadOnlyList<SqliteMigration> All =
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
                seq            INTEGER PRIMARY KEY,
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
            ALTER TABLE runs ADD COLUMN events_lost INTEGER NOT NULL DEFAULT 0;
            """),
        new(3, "runner host name per run", """
            ALTER TABLE runs ADD COLUMN host_name TEXT;
            """),
        new(4, "shipping state of runs forwarded to a fleet database", """
            CREATE TABLE ship_state (
                run_id        TEXT PRIMARY KEY REFERENCES runs (id),
                target        TEXT NOT NULL,
                begun         INTEGER NOT NULL DEFAULT 0,
                shipped_seq   INTEGER NOT NULL DEFAULT 0,
                shipped_count INTEGER NOT NULL DEFAULT 0,
                ended         INTEGER NOT NULL DEFAULT 0
            );
            """),
        new(5, "each process of a run stored once and referenced by its events", """
            CREATE TABLE processes (
                id     INTEGER PRIMARY KEY,
                run_id TEXT NOT NULL REFERENCES runs (id),
                data   TEXT NOT NULL
            );
            ALTER TABLE events ADD COLUMN process_id INTEGER REFERENCES processes (id);
            """),
    ];

    public static int Latest => All[^1].Version;

    /// <summary>The schema version of an open database: 0 when it is empty. Throws when it is not a HardenRunner store.</summary>
    public static int CurrentVersion(SqliteConnection connection, SqliteTransaction? transaction = null)
    {
        using var probe = connection.CreateCommand();
        probe.Transaction = transaction;
        probe.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
        var tables = new List<string>();
        using (var r = probe.ExecuteReader())
        {
            while (r.Read())
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
            throw new StoreException($"{connection.DataSource} is an SQLite database but not a HardenRunner store (tables: {string.Join(", ", tables)})");
        }

        using var version = connection.CreateCommand();
        version.Transaction = transaction;
        version.CommandText = "SELECT COALESCE(MAX(version), 0) FROM schema_version";
        return Convert.ToInt32(version.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>Brings the database to <paramref name="target"/> (default: the latest) and returns the version it is at.</summary>
    public static int Migrate(SqliteConnection connection, int? target = null)
    {
        var goal = target ?? Latest;
        using var tx = connection.BeginTransaction(deferred: false);
        var current = CurrentVersion(connection, tx);
        if (current > Latest)
        {
            throw new StoreException(
                $"{connection.DataSource} has schema version {current}, newer than this harden-runner supports ({Latest}); use a newer harden-runner");
        }

        if (current >= goal)
        {
            return current;
        }

        Exec(connection, tx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)");
        foreach (var m in All.Where(m => m.Version > current && m.Version <= goal))
        {
            Exec(connection, tx, m.Sql);
            using var record = connection.CreateCommand();
            record.Transaction = tx;
            record.CommandText = "INSERT INTO schema_version (version, description, applied_at) VALUES ($v, $d, $t)";
            record.Parameters.AddWithValue("$v", m.Version);
            record.Parameters.AddWithValue("$d", m.Description);
            record.Parameters.AddWithValue("$t", EventCodec.FormatTime(DateTimeOffset.UtcNow));
            record.ExecuteNonQuery();
        }

        tx.Commit();
        return goal;
    }

    private static void Exec(SqliteConnection connection, SqliteTransaction tx, string sql)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }
}
