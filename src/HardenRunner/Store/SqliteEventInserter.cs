using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace HardenRunner.Store;

/// <summary>
/// The store's one hot statement, the event insert, prepared once on the writer connection and driven through
/// SQLite's own API (bind, step, reset) rather than <see cref="SqliteCommand"/>: per event, the command's reader,
/// statement enumeration and a UTF-8 copy of every text parameter cost more than SQLite's insert itself
/// (docs/performance.md, DNS server). Text is bound as UTF-16 spans that SQLite copies and converts, the event's JSON as the UTF-8 it was encoded in. It runs inside
/// the transaction the caller opened on the same connection; only the store's write lock uses it.
/// </summary>
internal sealed class SqliteEventInserter : IDisposable
{
    private const int Done = 101; // SQLITE_DONE

    private readonly SqliteConnection _connection;
    private sqlite3_stmt? _statement;

    public SqliteEventInserter(SqliteConnection connection)
    {
        _connection = connection;
        Check(raw.sqlite3_prepare_v2(connection.Handle, Sql, out var statement), "prepare the event insert");
        _statement = statement;
    }

    /// <summary>
    /// Inserts one event of run <paramref name="runId"/> (the columns in <see cref="Columns"/> order);
    /// <paramref name="processId"/> is the row in <c>processes</c> of its <see cref="EncodedEvent.SeparateProcess"/>.
    /// </summary>
    public void Insert(string runId, EncodedEvent e, long? processId)
    {
        var statement = _statement ?? throw new ObjectDisposedException(nameof(SqliteEventInserter));
        try
        {
            Text(statement, 1, runId);
            Text(statement, 2, EventCodec.FormatTime(e.Time));
            Text(statement, 3, EventKinds.Name(e.Kind));
            Text(statement, 4, e.NetKind);
            Text(statement, 5, e.Host);
            Text(statement, 6, e.Address);
            Integer(statement, 7, e.Port);
            Text(statement, 8, e.Decision);
            Text(statement, 9, e.Action);
            Text(statement, 10, e.Method);
            Text(statement, 11, e.Path);
            Text(statement, 12, e.Operation);
            Text(statement, 13, e.DetectionType);
            Text(statement, 14, e.Severity);
            Integer(statement, 15, e.Pid);
            Text(statement, 16, e.StepAction);
            Check(raw.sqlite3_bind_text(statement, 17, e.DataUtf8.AsSpan()), "bind an event");
            Check(processId is { } p ? raw.sqlite3_bind_int64(statement, 18, p) : raw.sqlite3_bind_null(statement, 18), "bind an event");
            var rc = raw.sqlite3_step(statement);
            if (rc != Done)
            {
                throw Error(rc, "insert an event");
            }
        }
        finally
        {
            // ready for the next row whatever happened (a failed step must not leave the statement busy)
            raw.sqlite3_reset(statement);
            raw.sqlite3_clear_bindings(statement);
        }
    }

    public void Dispose()
    {
        // before the connection closes: a statement left unfinalized keeps the database busy
        _statement?.Dispose();
        _statement = null;
    }

    /// <summary>The events table's columns, in the order <see cref="Insert"/> binds them.</summary>
    public static readonly string[] Columns =
    [
        "run_id", "time", "kind", "net_kind", "host", "address", "port", "decision", "action", "method", "path",
        "operation", "detection_type", "severity", "pid", "step_action", "data", "process_id",
    ];

    /// <summary>The statement <see cref="Insert"/> runs.</summary>
    public static string Sql => $"INSERT INTO events ({string.Join(", ", Columns)}) VALUES ({string.Join(", ", Columns.Select((_, i) => "?" + (i + 1)))})";

    private void Text(sqlite3_stmt statement, int index, string? value) =>
        Check(value is null ? raw.sqlite3_bind_null(statement, index) : raw.sqlite3_bind_text16(statement, index, value.AsSpan()), "bind an event");

    private void Integer(sqlite3_stmt statement, int index, int? value) =>
        Check(value is { } v ? raw.sqlite3_bind_int64(statement, index, v) : raw.sqlite3_bind_null(statement, index), "bind an event");

    private void Check(int rc, string what)
    {
        if (rc != raw.SQLITE_OK)
        {
            throw Error(rc, what);
        }
    }

    private SqliteException Error(int rc, string what) =>
        new($"cannot {what}: {raw.sqlite3_errmsg(_connection.Handle).utf8_to_string()} (SQLite error {rc})", rc, raw.sqlite3_extended_errcode(_connection.Handle));
}
