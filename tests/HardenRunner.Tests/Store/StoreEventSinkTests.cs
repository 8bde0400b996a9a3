using System.Diagnostics;
using HardenRunner.Events;
using HardenRunner.Store;
using Microsoft.Data.Sqlite;

namespace HardenRunner.Tests.Store;

public sealed class StoreEventSinkTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Publish_ThenFlush_EveryEventIsAcknowledgedAndStored()
    {
        await using var store = await OpenWithRunAsync("r1");
        var sink = new StoreEventSink(store, "r1");
        for (var i = 0; i < 2_500; i++)
        {
            sink.Publish(SampleEvents.Https(i));
        }

        await sink.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(2_500, sink.Acknowledged);
        Assert.Equal(2_500, await store.CountEventsAsync("r1"));
        await sink.DisposeAsync();
        Assert.Equal(0, sink.Lost);
        Assert.Equal(0, sink.Pending);
        Assert.InRange(sink.MaxBatch, 1, 1_000);
        Assert.True(sink.Batches >= 3, $"2500 events need at least 3 batches of at most 1000 (got {sink.Batches})");
    }

    [Fact]
    public async Task Publish_EventsArrivingWithinTheLinger_AreCommittedInOneTransaction()
    {
        await using var store = await OpenWithRunAsync("r1");
        var sink = new StoreEventSink(store, "r1", new StoreEventSinkOptions { Linger = TimeSpan.FromSeconds(2) });
        var published = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            sink.Publish(SampleEvents.Https(i));
            await Task.Yield();
        }

        published.Stop();
        await sink.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(20, await store.CountEventsAsync("r1"));
        Assert.True(published.ElapsedMilliseconds < 1_500, $"publishing took {published.ElapsedMilliseconds} ms; the test needs it well inside the linger");
        Assert.Equal(1, sink.Batches);
        Assert.Equal(20, sink.MaxBatch);
        await sink.DisposeAsync();
    }

    [Fact]
    public async Task Options_NegativeLinger_IsRefused()
    {
        await using var store = await OpenWithRunAsync("r1");
        Assert.Throws<ArgumentOutOfRangeException>(() => new StoreEventSink(store, "r1", new StoreEventSinkOptions { Linger = TimeSpan.FromMilliseconds(-1) }));
    }

    [Fact]
    public async Task Dispose_DrainsTheQueue()
    {
        await using var store = await OpenWithRunAsync("r1");
        var sink = new StoreEventSink(store, "r1");
        foreach (var e in SampleEvents.OneOfEach())
        {
            sink.Publish(e);
        }

        await sink.DisposeAsync();
        Assert.Equal(6, sink.Acknowledged);
        Assert.Equal(6, await store.CountEventsAsync("r1"));
    }

    [Fact]
    public async Task Publish_UnsupportedType_IsCountedAsRejected()
    {
        await using var store = await OpenWithRunAsync("r1");
        await using var sink = new StoreEventSink(store, "r1");
        sink.Publish(new OtherEvent(SampleEvents.T0));
        sink.Publish(SampleEvents.Dns());
        await sink.FlushAsync();
        Assert.Equal(1, sink.Rejected);
        Assert.Equal(1, sink.Lost);
        Assert.Equal(1, sink.Acknowledged);
    }

    [Fact]
    public async Task Publish_AfterDispose_IsCountedAsDropped()
    {
        await using var store = await OpenWithRunAsync("r1");
        var sink = new StoreEventSink(store, "r1", new StoreEventSinkOptions { Capacity = 1, PublishTimeout = TimeSpan.FromMilliseconds(50) });
        await sink.DisposeAsync();
        sink.Publish(SampleEvents.Dns());
        sink.Publish(SampleEvents.Dns());
        Assert.Equal(0, sink.Acknowledged);
        Assert.True(sink.Dropped >= 1, $"dropped {sink.Dropped}");
        Assert.Equal(2, sink.Dropped + sink.Accepted);
    }

    [Fact]
    public async Task StoreLockedByAnotherProcess_PublishersWait_ThenDropPastTheTimeout_AndNothingElseIsLost()
    {
        // another connection holds the write lock (as another process could): appends wait on SQLite's busy timeout,
        // the small queue fills, publishers wait (back-pressure) and then drop, counted; after the lock goes, the rest is stored
        await using var store = await OpenWithRunAsync("r1");
        using var locker = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store.DatabasePath, Pooling = false }.ToString());
        locker.Open();
        var tx = locker.BeginTransaction(deferred: false);
        var sink = new StoreEventSink(store, "r1", new StoreEventSinkOptions { Capacity = 8, MaxBatchSize = 4, PublishTimeout = TimeSpan.FromMilliseconds(100) });
        const int Published = 40;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Published; i++)
        {
            sink.Publish(SampleEvents.Https(i));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"publishing took {watch.Elapsed}");
        Assert.True(sink.BackPressureWaits > 0, "publishers waited for room");
        Assert.True(sink.Dropped > 0, "events past the timeout are counted as dropped");
        Assert.Equal(0, sink.Acknowledged);

        tx.Rollback();
        tx.Dispose();
        await sink.DisposeAsync();
        Assert.Equal(Published, sink.Accepted + sink.Dropped);
        Assert.Equal(sink.Accepted, sink.Acknowledged);
        Assert.Equal(sink.Accepted, await store.CountEventsAsync("r1"));

        // the dropped ones are not written later behind the counter's back
        await Task.Delay(200);
        Assert.Equal(sink.Accepted, await store.CountEventsAsync("r1"));
    }

    [Fact]
    public async Task StoreRefusesTheBatch_AfterRetries_ItIsCountedAsFailed_WithTheReason()
    {
        await using var store = SqliteEventStore.Open(_dir.File("s.db"));
        var sink = new StoreEventSink(store, "never-begun", new StoreEventSinkOptions { RetryDelays = [TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(1)] });
        sink.Publish(SampleEvents.Dns());
        sink.Publish(SampleEvents.Dns(1));
        await sink.DisposeAsync();
        Assert.Equal(2, sink.Failed);
        Assert.Equal(0, sink.Acknowledged);
        Assert.Contains("unknown run 'never-begun'", sink.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreFailsOutsideTheRetries_TheQueueCloses_LaterEventsAreDroppedAtOnce_AndDisposeReportsTheFailure()
    {
        // a store with a bug (an exception no retry covers) stops the writer: publishers must not each wait out the
        // publish timeout on a queue nobody drains, and the failure must reach whoever disposes the sink
        var sink = new StoreEventSink(new BrokenStore(), "r1", new StoreEventSinkOptions { Capacity = 4, Linger = TimeSpan.Zero, PublishTimeout = TimeSpan.FromSeconds(30) });
        sink.Publish(SampleEvents.Dns());
        var deadline = Stopwatch.StartNew();
        while (sink.LastError is null && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(5);
        }

        Assert.Contains("a bug in the store", sink.LastError, StringComparison.Ordinal);
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++)
        {
            sink.Publish(SampleEvents.Dns(i + 1));
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"publishing to a stopped writer took {watch.Elapsed}");
        Assert.Equal(20, sink.Dropped);
        Assert.Equal(0, sink.Acknowledged);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () => await sink.DisposeAsync());
        Assert.Equal("a bug in the store", failure.Message);
    }

    [Fact]
    public async Task ConcurrentPublishers_AllEventsStored_InPerPublisherOrder()
    {
        await using var store = await OpenWithRunAsync("r1");
        var sink = new StoreEventSink(store, "r1", new StoreEventSinkOptions { Capacity = 256, PublishTimeout = TimeSpan.FromSeconds(60) });
        const int Publishers = 4;
        const int PerPublisher = 3_000;
        await Task.WhenAll(Enumerable.Range(0, Publishers).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < PerPublisher; i++)
            {
                sink.Publish(SampleEvents.Https(i) with { Path = $"/p{p}/{i}" });
            }
        })));
        await sink.DisposeAsync();
        Assert.Equal(0, sink.Lost);
        Assert.Equal(Publishers * PerPublisher, sink.Acknowledged);

        var next = new int[Publishers];
        await foreach (var s in store.ReadEventsAsync("r1", EventKind.Network))
        {
            var parts = ((NetworkEvent)s.Event).Path!.Split('/');
            var p = int.Parse(parts[1][1..]);
            Assert.Equal(next[p], int.Parse(parts[2]));
            next[p]++;
        }

        Assert.All(next, n => Assert.Equal(PerPublisher, n));
    }

    private async Task<SqliteEventStore> OpenWithRunAsync(string runId)
    {
        var store = SqliteEventStore.Open(_dir.File("s.db"));
        await store.BeginRunAsync(SampleEvents.Run(runId));
        return store;
    }

    private sealed record OtherEvent(DateTimeOffset Time) : ApplianceEvent(Time);

    /// <summary>A store whose append fails with an exception the sink does not retry (a bug, not a refusal).</summary>
    private sealed class BrokenStore : IEventStore
    {
        public Task AppendAsync(string runId, IReadOnlyList<ApplianceEvent> events, CancellationToken cancellationToken = default) =>
            throw new InvalidOperationException("a bug in the store");

        public Task BeginRunAsync(RunInfo run, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task UpdateRunAsync(RunInfo run, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task EndRunAsync(string runId, DateTimeOffset endedAt, long eventsLost, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<RunInfo?> GetRunAsync(string runId, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<IReadOnlyList<RunInfo>> ListRunsAsync(RunFilter filter, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public IAsyncEnumerable<StoredEvent> ReadEventsAsync(string runId, EventKind kind, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public Task<long> CountEventsAsync(string runId, EventKind? kind = null, CancellationToken cancellationToken = default) => throw new NotSupportedException();

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
