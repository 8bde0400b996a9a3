using System.Globalization;
using HardenRunner.Events;
using HardenRunner.Store;
using HardenRunner.Store.Postgres;
using Npgsql;

namespace HardenRunner.Tests.Store;

/// <summary>
/// The store contract against a real PostgreSQL server (<see cref="PostgresServer"/>, one per collection, a new
/// database per test), plus what only PostgreSQL has: migrations under concurrent openers, errors without the password.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresEventStoreTests(PostgresFixture pg) : EventStoreContractTests
{
    private string? _database;

    private PostgresServer Server => pg.Server;

    protected override async Task<IEventStore> OpenEmptyStoreAsync()
    {
        _database = await Server.CreateDatabaseAsync();
        return await PostgresEventStore.OpenAsync(Server.Uri(_database));
    }

    [Fact]
    public async Task Open_NewDatabase_IsAtTheLatestSchema_WithEveryMigrationRecordedOnce()
    {
        Assert.Equal(PostgresMigrations.Latest, ((PostgresEventStore)Store).SchemaVersion);
        Assert.Equal([1, 2, 3], await ColumnAsync<int>("SELECT version FROM schema_version ORDER BY version"));
        await using var again = await PostgresEventStore.OpenAsync(Server.Uri(_database!));
        Assert.Equal([1, 2, 3], await ColumnAsync<int>("SELECT version FROM schema_version ORDER BY version"));
    }

    [Fact]
    public async Task Open_ByManyAppliancesAtOnce_MigratesOnce()
    {
        var db = await Server.CreateDatabaseAsync();
        var stores = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => PostgresEventStore.OpenAsync(Server.Uri(db)))));
        foreach (var s in stores)
        {
            Assert.Equal(PostgresMigrations.Latest, s.SchemaVersion);
            await s.DisposeAsync();
        }

        Assert.Equal([1, 2, 3], await ColumnAsync<int>("SELECT version FROM schema_version ORDER BY version", db));
    }

    [Fact]
    public async Task Open_VersionOneDatabase_IsMigratedAndKeepsItsRuns()
    {
        var db = await Server.CreateDatabaseAsync();
        await using (var c = new NpgsqlConnection(Server.ConnectionString(db)))
        {
            await c.OpenAsync();
            Assert.Equal(1, await PostgresMigrations.MigrateAsync(c, target: 1));
            await ExecAsync(c, "INSERT INTO runs (id, started_at, mode, repository) VALUES ('legacy', '2024-01-01T00:00:00.0000000Z', 'audit', 'acme/web')");
            await ExecAsync(c, """INSERT INTO events (run_id, time, kind, net_kind, host, port, decision, action, data) VALUES ('legacy', '2024-01-01T00:00:01.0000000Z', 'network', 'dns', 'a.test', 53, 'allow', 'passed', '{"kind":"dns","host":"a.test","address":null,"port":53,"decision":"allow","action":"passed","rule":"r","process":null,"step":null}')""");
        }

        await using var store = await PostgresEventStore.OpenAsync(Server.Uri(db));
        Assert.Equal(PostgresMigrations.Latest, store.SchemaVersion);
        var run = await store.GetRunAsync("legacy");
        Assert.NotNull(run);
        Assert.Equal(0, run.EventsLost);
        Assert.Null(run.HostName);
        Assert.Equal(1, await store.CountEventsAsync("legacy"));
        await foreach (var e in store.ReadEventsAsync("legacy", EventKind.Network))
        {
            Assert.Equal("a.test", ((NetworkEvent)e.Event).Host);
        }

        await store.EndRunAsync("legacy", SampleEvents.T0, 3);
        Assert.Equal(3, (await store.GetRunAsync("legacy"))!.EventsLost);
    }

    [Fact]
    public async Task Open_NewerSchema_IsRefused()
    {
        await ExecAsync("INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'from the future', '2030-01-01T00:00:00.0000000Z')");
        var ex = await Assert.ThrowsAsync<StoreException>(() => PostgresEventStore.OpenAsync(Server.Uri(_database!)));
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
        Assert.Contains("newer", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_ForeignDatabaseWithOurTableNames_IsRefused()
    {
        var db = await Server.CreateDatabaseAsync();
        await ExecAsync("CREATE TABLE runs (id INTEGER)", db);
        var ex = await Assert.ThrowsAsync<StoreException>(() => PostgresEventStore.OpenAsync(Server.Uri(db)));
        Assert.Contains("not a HardenRunner store", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_WrongPassword_FailsWithoutShowingIt()
    {
        const string wrong = "s3cr3t-Wr0ng-Passw0rd";
        var uri = PostgresStoreUri.Parse(string.Create(CultureInfo.InvariantCulture, $"postgres://{PostgresServer.User}:{wrong}@127.0.0.1:{Server.Port}/{_database}"));
        var ex = await Assert.ThrowsAsync<StoreException>(() => PostgresEventStore.OpenAsync(uri));
        Assert.Contains("28P01", ex.Message, StringComparison.Ordinal);
        Assert.Contains(uri.Display, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(Server.Password, ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unreachable_IsAStoreError_WithoutThePassword()
    {
        // a port nothing listens on: bind one, note it, close it
        int port;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }

        var uri = PostgresStoreUri.Parse(string.Create(CultureInfo.InvariantCulture, $"postgres://{PostgresServer.User}:{Server.Password}@127.0.0.1:{port}/{_database}"));
        await using var store = PostgresEventStore.Create(uri);
        var ex = await Assert.ThrowsAsync<StoreException>(() => store.BeginRunAsync(SampleEvents.Run("r1")));
        Assert.Contains("unreachable", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Server.Password, ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnixSocket_ReachesTheSameDatabase()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await using var viaSocket = await PostgresEventStore.OpenAsync(Server.SocketUri(_database!));
        Assert.Equal("runner-7", (await viaSocket.GetRunAsync("r1"))!.HostName);
    }

    [Fact]
    public async Task TypedColumns_HoldWhatQueriesNeed()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Store.AppendAsync("r1", SampleEvents.OneOfEach());
        Assert.Equal(
            ["network|https|allowed.test|443|allow|passed|POST|/upload/1|4242|__run_2", "network|dns|allowed.test|53|allow|passed|||", "network|tcp||4444|deny|blocked|||"],
            await ColumnAsync<string>("SELECT kind || '|' || net_kind || '|' || COALESCE(host, '') || '|' || port || '|' || decision || '|' || action || '|' || COALESCE(method, '') || '|' || COALESCE(path, '') || '|' || COALESCE(pid::text, '') || COALESCE('|' || step_action, '') FROM events WHERE kind = 'network' ORDER BY seq"));
        Assert.Equal(["firewall-tampered|high|77"], await ColumnAsync<string>("SELECT detection_type || '|' || severity || '|' || pid FROM events WHERE kind = 'detection'"));
        Assert.Equal(["runner-7"], await ColumnAsync<string>("SELECT host_name FROM runs"));
    }

    [Fact]
    public async Task TwoStores_OnOneDatabase_SeeEachOthersRuns()
    {
        await using var other = await PostgresEventStore.OpenAsync(Server.Uri(_database!));
        await Store.BeginRunAsync(SampleEvents.Run("a") with { HostName = "runner-a" });
        await other.BeginRunAsync(SampleEvents.Run("b", SampleEvents.T0.AddMinutes(1)) with { HostName = "runner-b" });
        await Task.WhenAll(Store.AppendAsync("a", [SampleEvents.Https(1)]), other.AppendAsync("b", [SampleEvents.Https(2), SampleEvents.Dns(3)]));
        var runs = await Store.ListRunsAsync(RunFilter.All);
        Assert.Equal(["runner-b", "runner-a"], runs.Select(r => r.HostName));
        Assert.Equal(2, await Store.CountEventsAsync("b"));
        await Assert.ThrowsAsync<StoreException>(() => other.BeginRunAsync(SampleEvents.Run("a")));
    }

    private async Task<List<T>> ColumnAsync<T>(string sql, string? database = null)
    {
        await using var c = new NpgsqlConnection(Server.ConnectionString(database ?? _database!));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, c);
        await using var r = await cmd.ExecuteReaderAsync();
        var result = new List<T>();
        while (await r.ReadAsync())
        {
            result.Add(r.GetFieldValue<T>(0));
        }

        return result;
    }

    private async Task ExecAsync(string sql, string? database = null)
    {
        await using var c = new NpgsqlConnection(Server.ConnectionString(database ?? _database!));
        await c.OpenAsync();
        await ExecAsync(c, sql);
    }

    private static async Task ExecAsync(NpgsqlConnection c, string sql)
    {
        await using var cmd = new NpgsqlCommand(sql, c);
        await cmd.ExecuteNonQueryAsync();
    }
}
