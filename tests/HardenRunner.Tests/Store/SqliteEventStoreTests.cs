using HardenRunner.Events;
using HardenRunner.Store;
using Microsoft.Data.Sqlite;

namespace HardenRunner.Tests.Store;

/// <summary>The store contract against SQLite, plus what only SQLite has: WAL, durability setting, file mode, migrations.</summary>
public sealed class SqliteEventStoreTests : EventStoreContractTests
{
    private readonly TempDir _dir = new();

    protected override Task<IEventStore> OpenEmptyStoreAsync() =>
        Task.FromResult<IEventStore>(SqliteEventStore.Open(SqliteEventStore.PathIn(_dir.Path)));

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        _dir.Dispose();
    }

    [Fact]
    public async Task Open_NewDatabase_IsWalFullSyncPrivateAndAtTheLatestSchema()
    {
        var store = (SqliteEventStore)Store;
        Assert.Equal(SqliteMigrations.Latest, store.SchemaVersion);
        Assert.True(store.Durable);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.DatabasePath));
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Store.AppendAsync("r1", [SampleEvents.Dns()]);
        Assert.True(File.Exists(store.DatabasePath + "-wal"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.DatabasePath + "-wal"));

        using var c = RawConnection(store.DatabasePath);
        Assert.Equal("wal", Scalar(c, "PRAGMA journal_mode"));
        Assert.Equal([1L, 2L, 3L, 4L, 5L], Column(c, "SELECT version FROM schema_version ORDER BY version"));
    }

    [Fact]
    public async Task Reopen_KeepsData_AndAppliesNoMigrationTwice()
    {
        var path = ((SqliteEventStore)Store).DatabasePath;
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Store.AppendAsync("r1", SampleEvents.OneOfEach());
        await Store.DisposeAsync();

        await using var reopened = SqliteEventStore.Open(path);
        Assert.Equal(6, await reopened.CountEventsAsync("r1"));
        Assert.Equal("acme/web", (await reopened.GetRunAsync("r1"))!.Repository);
        using var c = RawConnection(path);
        Assert.Equal((long)SqliteMigrations.Latest, Scalar(c, "SELECT COUNT(*) FROM schema_version"));
    }

    [Fact]
    public async Task Open_VersionOneDatabase_IsMigratedAndKeepsItsRuns()
    {
        var path = _dir.File("v1.db");
        using (var c = RawConnection(path))
        {
            Assert.Equal(1, SqliteMigrations.Migrate(c, target: 1));
            Exec(c, "INSERT INTO runs (id, started_at, mode, repository) VALUES ('legacy', '2024-01-01T00:00:00.0000000Z', 'audit', 'acme/web')");
            Exec(c, """INSERT INTO events (run_id, time, kind, net_kind, host, port, decision, action, data) VALUES ('legacy', '2024-01-01T00:00:01.0000000Z', 'network', 'dns', 'a.test', 53, 'allow', 'passed', '{"kind":"dns","host":"a.test","address":null,"port":53,"decision":"allow","action":"passed","rule":"r","process":null,"step":null}')""");
            Assert.Throws<SqliteException>(() => Exec(c, "SELECT events_lost FROM runs"));
        }

        SqliteConnection.ClearAllPools();
        await using var store = SqliteEventStore.Open(path);
        Assert.Equal(SqliteMigrations.Latest, store.SchemaVersion);
        var run = await store.GetRunAsync("legacy");
        Assert.NotNull(run);
        Assert.Equal(0, run.EventsLost);
        Assert.Null(run.HostName);
        await foreach (var e in store.ReadEventsAsync("legacy", EventKind.Network))
        {
            Assert.Equal("a.test", ((NetworkEvent)e.Event).Host);
        }

        Assert.Equal(1, await store.CountEventsAsync("legacy"));
        await store.EndRunAsync("legacy", SampleEvents.T0, 3);
        Assert.Equal(3, (await store.GetRunAsync("legacy"))!.EventsLost);
    }

    [Fact]
    public void Open_NewerSchema_IsRefused()
    {
        var path = _dir.File("future.db");
        using (var c = RawConnection(path))
        {
            SqliteMigrations.Migrate(c);
            Exec(c, "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'from the future', '2030-01-01T00:00:00.0000000Z')");
        }

        var ex = Assert.Throws<StoreException>(() => SqliteEventStore.Open(path));
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
        Assert.Contains("newer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_ForeignSqliteDatabase_IsRefused()
    {
        var path = _dir.File("other.db");
        using (var c = RawConnection(path))
        {
            Exec(c, "CREATE TABLE customers (id INTEGER)");
        }

        var ex = Assert.Throws<StoreException>(() => SqliteEventStore.Open(path));
        Assert.Contains("not a HardenRunner store", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_GarbageFile_IsRefusedWithTheFileName()
    {
        var path = _dir.File("garbage.db");
        File.WriteAllBytes(path, [.. Enumerable.Range(0, 8192).Select(i => (byte)(i * 31))]);
        var ex = Assert.Throws<StoreException>(() => SqliteEventStore.Open(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_MissingDirectory_IsRefused()
    {
        var ex = Assert.Throws<StoreException>(() => SqliteEventStore.Open(_dir.File("no/such/dir/x.db")));
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecondStoreOnTheSameFile_ReadsWhatTheFirstCommitted_WhileItWrites()
    {
        var path = ((SqliteEventStore)Store).DatabasePath;
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await using var reader = SqliteEventStore.Open(path);
        for (var i = 1; i <= 5; i++)
        {
            await Store.AppendAsync("r1", [SampleEvents.Https(i)]);
            Assert.Equal(i, await reader.CountEventsAsync("r1"));
        }
    }

    [Fact]
    public async Task TypedColumns_HoldWhatQueriesNeed()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Store.AppendAsync("r1", SampleEvents.OneOfEach());
        using var c = RawConnection(((SqliteEventStore)Store).DatabasePath);
        Assert.Equal(
            ["network|https|allowed.test|443|allow|passed|POST|/upload/1|4242|__run_2", "network|dns|allowed.test|53|allow|passed|||", "network|tcp||4444|deny|blocked|||"],
            Column(c, "SELECT kind || '|' || net_kind || '|' || COALESCE(host, '') || '|' || port || '|' || decision || '|' || action || '|' || COALESCE(method, '') || '|' || COALESCE(path, '') || '|' || COALESCE(pid, '') || COALESCE('|' || step_action, '') FROM events WHERE kind = 'network' ORDER BY seq").Cast<string>());
        Assert.Equal(["firewall-tampered|high|77"], Column(c, "SELECT detection_type || '|' || severity || '|' || pid FROM events WHERE kind = 'detection'").Cast<string>());
        Assert.Equal(["modify|/home/runner/work/app/app/src/index6.js"], Column(c, "SELECT operation || '|' || path FROM events WHERE kind = 'file'").Cast<string>());
    }

    [Fact]
    public async Task AProcess_IsStoredOncePerRun_AndItsEventsReferenceIt_RedactedAndReadBackWhole()
    {
        var secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        var curl = new ProcessInfo(42, "/usr/bin/curl", $"curl -H 'Authorization: Bearer {secret}' https://allowed.test", [new AncestorInfo(40, "/usr/bin/bash"), new AncestorInfo(1, "/sbin/init")]);
        var sameContent = curl with { Ancestors = [.. curl.Ancestors] }; // another object, equal JSON
        var git = new ProcessInfo(43, "/usr/bin/git", "git fetch", [new AncestorInfo(1, "/sbin/init")]);
        NetworkEvent Dns(int i, ProcessInfo? p) => SampleEvents.Dns(i) with { Process = p };
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Store.BeginRunAsync(SampleEvents.Run("r2"));
        await Store.AppendAsync("r1", [Dns(1, curl), Dns(2, curl), Dns(3, null), Dns(4, git)]);
        await Store.AppendAsync("r1", [Dns(5, sameContent), Dns(6, curl), new FileEvent(SampleEvents.T0, "/w/a.c", FileEvent.Modify, true, git, null)]);
        await Store.AppendAsync("r2", [Dns(7, curl)]);

        using var c = RawConnection(((SqliteEventStore)Store).DatabasePath);
        Assert.Equal(["r1|42", "r1|43", "r2|42"], Column(c, "SELECT run_id || '|' || json_extract(data, '$.pid') FROM processes ORDER BY id").Cast<string>());
        Assert.Equal(0L, Scalar(c, "SELECT COUNT(*) FROM events WHERE json_extract(data, '$.process') IS NOT NULL OR data LIKE '%\"process\"%'"));
        Assert.Equal(0L, Scalar(c, $"SELECT COUNT(*) FROM processes WHERE data LIKE '%{secret}%'"));
        Assert.Equal(
            [1L, 1L, null, 2L, 1L, 1L, 2L, 3L],
            Column(c, "SELECT process_id FROM events ORDER BY seq").Select(v => v is DBNull ? (long?)null : (long)v));

        var read = new List<NetworkEvent>();
        await foreach (var e in Store.ReadEventsAsync("r1", EventKind.Network))
        {
            read.Add((NetworkEvent)e.Event);
        }

        Assert.Equal([42, 42, null, 43, 42, 42], read.Select(e => e.Process?.Pid));
        Assert.Same(read[0].Process, read[1].Process);
        Assert.Equal(["/usr/bin/bash", "/sbin/init"], read[0].Process!.Ancestors.Select(a => a.Exe));
        Assert.DoesNotContain(secret, read[0].Process!.Cmdline, StringComparison.Ordinal);
        Assert.StartsWith("curl -H", read[0].Process!.Cmdline, StringComparison.Ordinal);
        await foreach (var f in Store.ReadEventsAsync("r1", EventKind.File))
        {
            Assert.Equal("git fetch", ((FileEvent)f.Event).Process!.Cmdline);
        }
    }

    [Fact]
    public async Task AFailedAppend_LeavesNoProcessBehind_AndTheNextAppendStoresItAgain()
    {
        var path = ((SqliteEventStore)Store).DatabasePath;
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        using (var c = RawConnection(path))
        {
            // the second event of the batch fails after its process row was written in the same transaction
            Exec(c, "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.host = 'refused.test' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
        }

        var curl = SampleEvents.Curl();
        var refused = SampleEvents.Https(2) with { Host = "refused.test", Process = curl };
        var ex = await Assert.ThrowsAsync<StoreException>(() => Store.AppendAsync("r1", [SampleEvents.Https(1) with { Process = curl }, refused]));
        Assert.Contains("refused by the test", ex.Message, StringComparison.Ordinal);
        using (var c = RawConnection(path))
        {
            Assert.Equal(0L, Scalar(c, "SELECT COUNT(*) FROM processes"));
            Exec(c, "DROP TRIGGER refuse");
        }

        await Store.AppendAsync("r1", [SampleEvents.Https(3) with { Process = curl }]);
        await foreach (var e in Store.ReadEventsAsync("r1", EventKind.Network))
        {
            Assert.Equal("/usr/bin/curl", ((NetworkEvent)e.Event).Process!.Exe);
        }

        Assert.Equal(1, await Store.CountEventsAsync("r1"));
    }

    [Fact]
    public async Task Open_VersionFourDatabase_ReadsItsEmbeddedProcesses_AndStoresNewOnesApart()
    {
        var path = _dir.File("v4.db");
        var old = EventCodec.Encode(SampleEvents.Https(1));
        using (var c = RawConnection(path))
        {
            Assert.Equal(4, SqliteMigrations.Migrate(c, target: 4));
            Exec(c, "INSERT INTO runs (id, started_at, mode) VALUES ('legacy', '2024-01-01T00:00:00.0000000Z', 'block')");
            using var cmd = c.CreateCommand();
            cmd.CommandText = "INSERT INTO events (run_id, time, kind, net_kind, host, port, decision, action, pid, data) VALUES ('legacy', '2024-01-01T00:00:01.0000000Z', 'network', 'https', 'allowed.test', 443, 'allow', 'passed', 4242, $data)";
            cmd.Parameters.AddWithValue("$data", old.Data);
            cmd.ExecuteNonQuery();
        }

        SqliteConnection.ClearAllPools();
        await using var store = SqliteEventStore.Open(path);
        Assert.Equal(5, store.SchemaVersion);
        await store.AppendAsync("legacy", [SampleEvents.Https(2)]);
        var read = new List<NetworkEvent>();
        await foreach (var e in store.ReadEventsAsync("legacy", EventKind.Network))
        {
            read.Add((NetworkEvent)e.Event);
        }

        Assert.Equal(2, read.Count);
        Assert.All(read, e => Assert.Equal(System.Text.Json.JsonSerializer.Serialize(SampleEvents.Curl()), System.Text.Json.JsonSerializer.Serialize(e.Process)));
        using var check = RawConnection(path);
        Assert.Equal([null, 1L], Column(check, "SELECT process_id FROM events ORDER BY seq").Select(v => v is DBNull ? (long?)null : (long)v));
    }

    private static SqliteConnection RawConnection(string path)
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        c.Open();
        return c;
    }

    private static void Exec(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    private static List<object> Column(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var result = new List<object>();
        while (r.Read())
        {
            result.Add(r.GetValue(0));
        }

        return result;
    }
}
