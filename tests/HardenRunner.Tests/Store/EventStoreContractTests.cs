using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

namespace HardenRunner.Tests.Store;

/// <summary>
/// What every <see cref="IEventStore"/> must do. An implementation's test class derives from this one and says how to
/// open a fresh store (<see cref="SqliteEventStoreTests"/>, <see cref="PostgresEventStoreTests"/>).
/// </summary>
public abstract class EventStoreContractTests : IAsyncLifetime
{
    private IEventStore? _store;

    protected IEventStore Store => _store ?? throw new InvalidOperationException("not initialised");

    /// <summary>A new, empty store.</summary>
    protected abstract Task<IEventStore> OpenEmptyStoreAsync();

    public async Task InitializeAsync() => _store = await OpenEmptyStoreAsync();

    public virtual async Task DisposeAsync()
    {
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    [Fact]
    public async Task RoundTrip_EveryKind_ComesBackEqualInAppendOrder()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        var events = SampleEvents.OneOfEach();
        await Store.AppendAsync("r1", events);

        foreach (var kind in Enum.GetValues<EventKind>())
        {
            var expected = events.Where(e => EventKinds.Of(e) == kind).Select(SampleEvents.Canonical).ToList();
            var actual = new List<string>();
            await foreach (var stored in Store.ReadEventsAsync("r1", kind))
            {
                Assert.Equal("r1", stored.RunId);
                actual.Add(SampleEvents.Canonical(stored.Event));
            }

            Assert.Equal(expected, actual);
        }

        Assert.Equal(6, await Store.CountEventsAsync("r1"));
        Assert.Equal(3, await Store.CountEventsAsync("r1", EventKind.Network));
    }

    [Fact]
    public async Task RoundTrip_AttributionAndOptionalFields_ArePreserved()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Store.AppendAsync("r1", [SampleEvents.Https(1), SampleEvents.Dns(2)]);
        var read = new List<NetworkEvent>();
        await foreach (var s in Store.ReadEventsAsync("r1", EventKind.Network))
        {
            read.Add((NetworkEvent)s.Event);
        }

        Assert.Equal(2, read.Count);
        var https = read[0];
        Assert.Equal(4242, https.Process!.Pid);
        Assert.Equal(["/usr/bin/bash", "/home/runner/actions-runner/bin/Runner.Worker"], https.Process.Ancestors.Select(a => a.Exe));
        Assert.Equal("__run_2", https.Step!.Action);
        Assert.Null(https.Step.Uses);
        Assert.Equal("POST", https.Method);
        Assert.Equal(SampleEvents.T0.AddMilliseconds(1), https.Time);
        var dns = read[1];
        Assert.Null(dns.Process);
        Assert.Null(dns.Step);
        Assert.Null(dns.Address);
        Assert.Equal("A", dns.QueryType);
    }

    [Fact]
    public async Task Append_SecretsInEvents_AreRedactedAtRest()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        const string token = "ghs_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        await Store.AppendAsync("r1", [new ProcessEvent(SampleEvents.T0, 10, 1, "/usr/bin/git", $"git clone https://x-access-token:{token}@github.com/acme/web", SampleEvents.T0, 0, 0)]);
        await foreach (var s in Store.ReadEventsAsync("r1", EventKind.Process))
        {
            var cmdline = ((ProcessEvent)s.Event).Cmdline!;
            Assert.DoesNotContain(token, cmdline, StringComparison.Ordinal);
            Assert.Contains("github.com/acme/web", cmdline, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Append_UnknownRun_IsRefusedWithAClearError()
    {
        var ex = await Assert.ThrowsAsync<StoreException>(() => Store.AppendAsync("nope", [SampleEvents.Dns()]));
        Assert.Contains("unknown run 'nope'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Append_UnsupportedEventType_WritesNothing()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync("r1", [SampleEvents.Dns(), new OtherEvent(SampleEvents.T0)]));
        Assert.Equal(0, await Store.CountEventsAsync("r1"));
    }

    [Fact]
    public async Task BeginRun_Twice_IsRefused()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        var ex = await Assert.ThrowsAsync<StoreException>(() => Store.BeginRunAsync(SampleEvents.Run("r1")));
        Assert.Contains("already", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runs_AreListedNewestFirst_FilteredByJob_AndEnded()
    {
        await Store.BeginRunAsync(SampleEvents.Run("old", SampleEvents.T0, EgressMode.Audit));
        await Store.BeginRunAsync(SampleEvents.Run("other-job", SampleEvents.T0.AddHours(1), job: "test"));
        await Store.BeginRunAsync(SampleEvents.Run("new", SampleEvents.T0.AddHours(2)));
        await Store.BeginRunAsync(new RunInfo("bare", SampleEvents.T0.AddMinutes(30), EgressMode.Audit));
        await Store.EndRunAsync("new", SampleEvents.T0.AddHours(3), eventsLost: 7);

        var all = await Store.ListRunsAsync(RunFilter.All);
        Assert.Equal(["new", "other-job", "bare", "old"], all.Select(r => r.Id));

        var build = await Store.ListRunsAsync(new RunFilter { Repository = "acme/web", Workflow = "ci", Job = "build" });
        Assert.Equal(["new", "old"], build.Select(r => r.Id));

        await Store.BeginRunAsync(SampleEvents.Run("elsewhere", SampleEvents.T0.AddMinutes(10)) with { HostName = "runner-9" });
        Assert.Equal(["elsewhere"], (await Store.ListRunsAsync(new RunFilter { HostName = "runner-9" })).Select(r => r.Id));
        Assert.Equal(["new", "old"], (await Store.ListRunsAsync(new RunFilter { Job = "build", HostName = "runner-7" })).Select(r => r.Id));
        Assert.Empty(await Store.ListRunsAsync(new RunFilter { HostName = "nowhere" }));

        var latest = Assert.Single(await Store.ListRunsAsync(new RunFilter { Limit = 1 }));
        Assert.Equal("new", latest.Id);
        Assert.Equal(SampleEvents.T0.AddHours(3), latest.EndedAt);
        Assert.Equal(7, latest.EventsLost);
        Assert.Equal(EgressMode.Block, latest.Mode);
        Assert.Equal("987654321", latest.GitHubRunId);
        Assert.Equal("runner-7", latest.HostName);

        var bare = await Store.GetRunAsync("bare");
        Assert.NotNull(bare);
        Assert.Null(bare.Repository);
        Assert.Null(bare.EndedAt);
        Assert.Null(bare.HostName);
        Assert.Equal(EgressMode.Audit, bare.Mode);
        Assert.Null(await Store.GetRunAsync("missing"));
        await Assert.ThrowsAsync<StoreException>(() => Store.EndRunAsync("missing", SampleEvents.T0, 0));
    }

    [Fact]
    public async Task UpdateRun_ChangesTheModeAndJobCoordinates_AndNothingElse()
    {
        await Store.BeginRunAsync(new RunInfo("job", SampleEvents.T0, EgressMode.Audit) { HostName = "runner-7" });
        await Store.AppendAsync("job", [SampleEvents.Dns()]);
        var described = new RunInfo("job", SampleEvents.T0.AddHours(5), EgressMode.Block)
        {
            Repository = "acme/web",
            Workflow = "ci",
            Job = "build",
            GitHubRunId = "42",
            HostName = "elsewhere",
            EndedAt = SampleEvents.T0.AddHours(6),
            EventsLost = 9,
        };
        await Store.UpdateRunAsync(described);

        var run = await Store.GetRunAsync("job");
        Assert.NotNull(run);
        Assert.Equal((EgressMode.Block, "acme/web", "ci", "build", "42"), (run.Mode, run.Repository, run.Workflow, run.Job, run.GitHubRunId));
        Assert.Equal((SampleEvents.T0, "runner-7", (DateTimeOffset?)null, 0L), (run.StartedAt, run.HostName, run.EndedAt, run.EventsLost));
        Assert.Equal(1, await Store.CountEventsAsync("job"));
        Assert.Equal(["job"], (await Store.ListRunsAsync(new RunFilter { Repository = "acme/web", Job = "build" })).Select(r => r.Id));
        await Assert.ThrowsAsync<StoreException>(() => Store.UpdateRunAsync(new RunInfo("missing", SampleEvents.T0, EgressMode.Block)));
    }

    [Fact]
    public async Task Events_AreKeptPerRun()
    {
        await Store.BeginRunAsync(SampleEvents.Run("a"));
        await Store.BeginRunAsync(SampleEvents.Run("b", SampleEvents.T0.AddMinutes(1)));
        await Store.AppendAsync("a", [SampleEvents.Https(1), SampleEvents.Https(2)]);
        await Store.AppendAsync("b", [SampleEvents.Https(3)]);
        Assert.Equal(2, await Store.CountEventsAsync("a"));
        Assert.Equal(1, await Store.CountEventsAsync("b"));
        Assert.Equal(0, await Store.CountEventsAsync("a", EventKind.File));
    }

    [Fact]
    public async Task ConcurrentAppends_FromManyTasks_AreAllStored_EachBatchContiguous()
    {
        await Store.BeginRunAsync(SampleEvents.Run("r1"));
        const int Writers = 8;
        const int Batches = 25;
        const int BatchSize = 40;
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            for (var b = 0; b < Batches; b++)
            {
                var batch = Enumerable.Range(0, BatchSize)
                    .Select(i => (ApplianceEvent)(SampleEvents.Https(i) with { Path = $"/w{w}/b{b}/i{i}" }))
                    .ToList();
                await Store.AppendAsync("r1", batch);
            }
        })));

        Assert.Equal(Writers * Batches * BatchSize, await Store.CountEventsAsync("r1"));
        var paths = new List<string>();
        var sequences = new List<long>();
        await foreach (var s in Store.ReadEventsAsync("r1", EventKind.Network))
        {
            paths.Add(((NetworkEvent)s.Event).Path!);
            sequences.Add(s.Sequence);
        }

        Assert.Equal(paths.Count, paths.Distinct().Count());
        Assert.True(sequences.SequenceEqual(sequences.Order()), "events come back in append order");

        // one transaction per batch: a batch's events are adjacent and in order
        for (var k = 0; k < paths.Count; k += BatchSize)
        {
            var prefix = paths[k][..paths[k].LastIndexOf('/')];
            for (var i = 0; i < BatchSize; i++)
            {
                Assert.Equal($"{prefix}/i{i}", paths[k + i]);
            }
        }
    }

    private sealed record OtherEvent(DateTimeOffset Time) : ApplianceEvent(Time);
}
