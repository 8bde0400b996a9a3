using HardenRunner.Events;
using HardenRunner.Store;
using HardenRunner.Store.Fleet;
using Npgsql;

namespace HardenRunner.Tests.Store;

/// <summary>
/// Fleet mode against a real PostgreSQL server that the test stops and starts: the appliance's writes never wait for
/// the database, events wait in the local SQLite file while it is down, and every event arrives exactly once.
/// </summary>
public sealed class FleetEventStoreTests : IAsyncLifetime
{
    private static readonly FleetShippingOptions Fast = new()
    {
        BatchSize = 500,
        MinRetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(500),
        IdlePoll = TimeSpan.FromMilliseconds(100),
        DrainTimeout = TimeSpan.FromSeconds(30),
    };

    private readonly TempDir _dir = new();
    private PostgresServer? _server;
    private string? _database;

    private PostgresServer Server => _server!;

    public async Task InitializeAsync()
    {
        _server = await PostgresServer.StartAsync();
        _database = await Server.CreateDatabaseAsync();
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        _dir.Dispose();
    }

    [Fact]
    public async Task DatabaseStoppedMidStream_AppendsGoOn_AndEveryEventArrivesExactlyOnce()
    {
        const int Before = 2_000, During = 3_000, After = 1_000;
        var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, Fast);
        await using (fleet)
        {
            await fleet.BeginRunAsync(SampleEvents.Run("r1") with { HostName = "runner-1" });
            var sink = new StoreEventSink(fleet, "r1");
            var next = 0;
            void Publish(int count)
            {
                for (var i = 0; i < count; i++, next++)
                {
                    sink.Publish(SampleEvents.Https(next) with { Path = $"/e/{next}" });
                }
            }

            Publish(Before);
            await sink.FlushAsync();
            Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(60)), fleet.LastError);
            Assert.Equal(Before, await RemoteCountAsync("r1"));

            // the database goes away mid-stream: the appliance's appends still complete (locally)
            await Server.StopAsync();
            Publish(During);
            await sink.FlushAsync();
            Assert.Equal(Before + During, sink.Acknowledged);
            Assert.Equal(0, sink.Lost);
            Assert.Equal(Before + During, await fleet.CountEventsAsync("r1"));
            Assert.Equal(During, fleet.Backlog);

            // it comes back; more events, the run ends, everything ships
            await Server.StartAsync();
            Publish(After);
            await sink.DisposeAsync();
            await fleet.EndRunAsync("r1", SampleEvents.T0.AddHours(1), sink.Lost);
            Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(120)), fleet.LastError);
            Assert.Equal(0, fleet.Backlog);
            Assert.True(fleet.RemoteFailures > 0, "the shipper saw the database down");
        }

        const int Total = Before + During + After;
        var paths = await RemoteColumnAsync<string>("SELECT path FROM events WHERE run_id = 'r1' ORDER BY seq");
        Assert.Equal(Total, paths.Count);
        Assert.Equal(Enumerable.Range(0, Total).Select(i => $"/e/{i}"), paths);
        var run = (await RemoteColumnAsync<string>("SELECT host_name || '|' || ended_at || '|' || events_lost FROM runs WHERE id = 'r1'")).Single();
        Assert.Equal($"runner-1|{EventCodec.FormatTime(SampleEvents.T0.AddHours(1))}|0", run);
    }

    [Fact]
    public async Task CommitWhoseLocalRecordWasLost_IsNotShippedTwice()
    {
        await using (var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, Fast))
        {
            await fleet.BeginRunAsync(SampleEvents.Run("r1"));
            await fleet.AppendAsync("r1", [.. Enumerable.Range(0, 1_200).Select(i => (ApplianceEvent)(SampleEvents.Https(i) with { Path = $"/e/{i}" }))]);
            Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(60)), fleet.LastError);
        }

        // as if the appliance died after PostgreSQL committed but before the local file recorded it
        await using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={SqliteEventStore.PathIn(_dir.Path)};Pooling=False"))
        {
            await c.OpenAsync();
            await using var cmd = c.CreateCommand();
            cmd.CommandText = "UPDATE ship_state SET shipped_seq = 0, shipped_count = 0";
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync());
        }

        await using (var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, Fast))
        {
            Assert.Equal(1_200, fleet.Backlog);
            await fleet.AppendAsync("r1", [.. Enumerable.Range(1_200, 300).Select(i => (ApplianceEvent)(SampleEvents.Https(i) with { Path = $"/e/{i}" }))]);
            await fleet.EndRunAsync("r1", SampleEvents.T0.AddHours(1), 0);
            Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(60)), fleet.LastError);
            Assert.Equal(0, fleet.Backlog);
        }

        Assert.Equal(Enumerable.Range(0, 1_500).Select(i => $"/e/{i}"), await RemoteColumnAsync<string>("SELECT path FROM events WHERE run_id = 'r1' ORDER BY seq"));
    }

    [Fact]
    public async Task ARunDescribedAnewWhileRunning_IsUpdatedInTheFleetDatabase()
    {
        await using var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, Fast);
        await fleet.BeginRunAsync(new RunInfo("r1", SampleEvents.T0, Policy.Model.EgressMode.Audit));
        await fleet.AppendAsync("r1", [SampleEvents.Dns()]);
        Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(60)), fleet.LastError);
        Assert.Equal(["audit"], await RemoteColumnAsync<string>("SELECT mode FROM runs WHERE id = 'r1'"));

        // service mode learns the job's policy and coordinates after the run began (and was shipped)
        await fleet.UpdateRunAsync(new RunInfo("r1", SampleEvents.T0, Policy.Model.EgressMode.Block) { Repository = "acme/web", Job = "build" });
        await fleet.AppendAsync("r1", [SampleEvents.Dns()]);
        Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(60)), fleet.LastError);
        Assert.Equal(["block acme/web build"], await RemoteColumnAsync<string>("SELECT mode || ' ' || repository || ' ' || job FROM runs WHERE id = 'r1'"));
        Assert.Equal([2L], await RemoteColumnAsync<long>("SELECT COUNT(*) FROM events WHERE run_id = 'r1'"));
    }

    [Fact]
    public async Task DatabaseDownAtStart_RunIsShippedWhenItComesUp()
    {
        await Server.StopAsync();
        await using (var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, Fast))
        {
            await fleet.BeginRunAsync(SampleEvents.Run("r1"));
            await fleet.AppendAsync("r1", SampleEvents.OneOfEach());
            await fleet.EndRunAsync("r1", SampleEvents.T0.AddHours(1), 0);

            // the local record is complete without the database (the report at stop reads it)
            Assert.Equal(6, await fleet.CountEventsAsync("r1"));
            await WaitForAsync(() => fleet.RemoteFailures > 0);
            Assert.False(fleet.Reachable);
            Assert.Equal(6, fleet.Backlog);
            Assert.DoesNotContain(Server.Password, fleet.LastError ?? "", StringComparison.Ordinal);
        }

        // the next appliance start on this state directory ships what the last one could not
        await Server.StartAsync();
        await using (var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, Fast))
        {
            Assert.True(await fleet.WaitShippedAsync(TimeSpan.FromSeconds(60)), fleet.LastError);
        }

        Assert.Equal([6L], await RemoteColumnAsync<long>("SELECT COUNT(*) FROM events WHERE run_id = 'r1'"));
        Assert.Equal(["block"], await RemoteColumnAsync<string>("SELECT mode FROM runs WHERE id = 'r1' AND ended_at IS NOT NULL"));
    }

    [Fact]
    public async Task Backlog_IsBounded_AndWhatDoesNotFitIsCountedLost()
    {
        await Server.StopAsync();
        var options = Fast with { MaxBacklog = 100, DrainTimeout = TimeSpan.FromMilliseconds(100) };
        await using var fleet = (FleetEventStore)StoreSelection.OpenForAppliance(Server.Uri(_database!), _dir.Path, options);
        await fleet.BeginRunAsync(SampleEvents.Run("r1"));
        await fleet.AppendAsync("r1", [.. Enumerable.Range(0, 100).Select(i => (ApplianceEvent)SampleEvents.Https(i))]);
        var ex = await Assert.ThrowsAsync<StoreException>(() => fleet.AppendAsync("r1", [SampleEvents.Https(100)]));
        Assert.Contains("buffer", ex.Message, StringComparison.Ordinal);
        Assert.Equal(100, await fleet.CountEventsAsync("r1"));

        var sink = new StoreEventSink(fleet, "r1", new StoreEventSinkOptions { RetryDelays = [TimeSpan.FromMilliseconds(1)] });
        sink.Publish(SampleEvents.Https(101));
        await sink.DisposeAsync();
        Assert.Equal(1, sink.Failed);
        Assert.Equal(1, sink.Lost);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "condition not met within 60 s");
            await Task.Delay(20);
        }
    }

    private async Task<long> RemoteCountAsync(string runId) =>
        (await RemoteColumnAsync<long>($"SELECT COUNT(*) FROM events WHERE run_id = '{runId}'")).Single();

    private async Task<List<T>> RemoteColumnAsync<T>(string sql)
    {
        await using var c = new NpgsqlConnection(Server.ConnectionString(_database!));
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
}
