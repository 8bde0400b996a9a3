using System.Net;
using HardenRunner.Events;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Network;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Monitoring.Network;

/// <summary>
/// The queue's own logic (ordering, bounds, drain at stop, publishing when the lookup ends), with an attributor the
/// test controls: a lookup that blocks until released cannot be produced with the real one. Real lookups are in the
/// component tests (Dns/, Proxy/, Netfilter/ *AttributionTests).
/// </summary>
public sealed class AttributionQueueTests
{
    private static readonly IPEndPoint Client = new(IPAddress.Loopback, 40000);
    private static readonly IPEndPoint Server = new(IPAddress.Loopback, 53);
    private static readonly Attribution Known = new(new ProcessInfo(4242, "/usr/bin/curl", "curl x"), new StepInfo("build", "acme/action"));

    [Fact]
    public void PendingAttribution_ActionsGivenBeforeOrAfterCompletion_RunOnceWithTheResult()
    {
        var pending = new PendingAttribution();
        var seen = new List<(string, Attribution)>();
        pending.Then(a => seen.Add(("before", a)));
        Assert.False(pending.IsCompleted);
        Assert.Empty(seen);

        Assert.Equal(0, pending.Complete(Known));
        pending.Then(a => seen.Add(("after", a)));
        Assert.Equal(0, pending.Complete(Attribution.Unknown)); // a second completion changes nothing

        Assert.Equal([("before", Known), ("after", Known)], seen);
        Assert.True(pending.TryGetResult(out var result));
        Assert.Equal(Known, result);
    }

    [Fact]
    public void PendingAttribution_AThrowingAction_DoesNotStopTheOthers()
    {
        var pending = new PendingAttribution();
        var ran = 0;
        pending.Then(_ => throw new InvalidOperationException("sink failed"));
        pending.Then(_ => ran++);
        Assert.Equal(1, pending.Complete(Known));
        Assert.Equal(1, ran);
    }

    [Fact]
    public void Queue_PublishesEachEventWhenItsLookupEnds_WithTheEventsOwnTime()
    {
        using var attributor = new GatedAttributor(Known);
        using var queue = new AttributionQueue(attributor, "test");
        var sink = new ListSink();
        var time = DateTimeOffset.UnixEpoch.AddDays(1);
        var e = new NetworkEvent(time, "dns", "allowed.test", null, 53, Decision.Allow, NetworkEvent.Passed, "rule");

        var pending = queue.Udp(Client, Server);
        sink.PublishAttributed(e, pending);
        sink.PublishAttributed(e with { Host = "second.test" }, pending);
        Assert.Empty(sink.Events); // the lookup is held: nothing published yet, nothing lost

        attributor.Release();
        Assert.True(SpinWait.SpinUntil(() => sink.Events.Count == 2, TimeSpan.FromSeconds(10)));
        Assert.All(sink.Events, x =>
        {
            var n = Assert.IsType<NetworkEvent>(x);
            Assert.Equal(time, n.Time);
            Assert.Equal(4242, n.Process?.Pid);
            Assert.Equal(new StepInfo("build", "acme/action"), n.Step);
        });
        Assert.Equal([(false, Client, Server)], attributor.Calls);
        Assert.Equal(1, queue.Lookups);
        Assert.Equal(1, queue.Found);
    }

    [Fact]
    public void Queue_LookupsArrivingWhileTheWorkerSleepsOrWorks_AreAllDone_NoneWaitsForALaterOne()
    {
        using var attributor = new GatedAttributor(Known);
        attributor.Release();
        using var queue = new AttributionQueue(attributor, "test");

        // one at a time, with pauses in which the worker goes to sleep: each is done without a later one to wake it
        for (var i = 0; i < 50; i++)
        {
            var one = queue.Udp(new IPEndPoint(IPAddress.Loopback, 30_000 + i), Server);
            Assert.True(SpinWait.SpinUntil(() => one.IsCompleted, TimeSpan.FromSeconds(10)), $"lookup {i} was never done");
            if (i % 5 == 0)
            {
                Thread.Sleep(2);
            }
        }

        // four producers at once, in bursts
        var pending = new System.Collections.Concurrent.ConcurrentBag<PendingAttribution>();
        Parallel.For(0, 4, t =>
        {
            for (var i = 0; i < 2_000; i++)
            {
                pending.Add(queue.Udp(new IPEndPoint(IPAddress.Loopback, 1_000 + (t * 2_000) + i), Server));
                if (i % 97 == 0)
                {
                    Thread.Yield();
                }
            }
        });
        Assert.True(SpinWait.SpinUntil(() => pending.All(p => p.IsCompleted), TimeSpan.FromSeconds(30)), "a lookup was left waiting");
        Assert.Equal(0, queue.Skipped);
        Assert.Equal(8_050, queue.Lookups + queue.Coalesced);
    }

    [Fact]
    public void Queue_Full_SkipsTheLookupAndPublishesUnattributedAtOnce()
    {
        using var attributor = new GatedAttributor(Known);
        using var queue = new AttributionQueue(attributor, "test", capacity: 2);
        var first = queue.Tcp(Client, Server);
        Assert.True(SpinWait.SpinUntil(() => attributor.Started == 1, TimeSpan.FromSeconds(10))); // the worker holds one
        var queued = new[] { queue.Tcp(Client, Server), queue.Tcp(Client, Server) };
        var overflow = queue.Tcp(Client, Server);

        Assert.True(overflow.IsCompleted);
        Assert.True(overflow.TryGetResult(out var none));
        Assert.Null(none.Process);
        Assert.Equal(1, queue.Skipped);

        attributor.Release();
        Assert.True(SpinWait.SpinUntil(() => queued.All(q => q.IsCompleted) && first.IsCompleted, TimeSpan.FromSeconds(10)));
        Assert.Equal(2, queue.Lookups); // the two that waited together for the same socket were looked up once
        Assert.Equal(1, queue.Coalesced);
    }

    [Fact]
    public void Queue_IdenticalLookupsWaitingTogether_AreDoneOnce_EachKeyWithItsOwnResult_InQueueOrder()
    {
        var other = new IPEndPoint(IPAddress.Loopback, 40001);
        using var attributor = new GatedAttributor(Known, answerOnlyFor: Server);
        using var queue = new AttributionQueue(attributor, "test");
        var sink = new ListSink();
        var held = queue.Udp(Client, Server);
        Assert.True(SpinWait.SpinUntil(() => attributor.Started == 1, TimeSpan.FromSeconds(10)));

        // while the worker is held: a, b, a, b (b is another socket, sending elsewhere)
        var order = new[] { (Client, Server, "a1"), (other, Client, "b1"), (Client, Server, "a2"), (other, Client, "b2") };
        foreach (var (client, destination, name) in order)
        {
            sink.PublishAttributed(new NetworkEvent(DateTimeOffset.UnixEpoch, "dns", name + ".test", null, 53, Decision.Allow, NetworkEvent.Passed, "r"), queue.Udp(client, destination));
        }

        attributor.Release();
        Assert.True(SpinWait.SpinUntil(() => sink.Events.Count == 4, TimeSpan.FromSeconds(10)));
        Assert.True(held.IsCompleted);
        Assert.Equal(["a1.test", "b1.test", "a2.test", "b2.test"], sink.Events.Select(e => ((NetworkEvent)e).Host));
        Assert.Equal([4242, null, 4242, null], sink.Events.Select(e => ((NetworkEvent)e).Process?.Pid));
        Assert.Equal([(false, Client, Server), (false, Client, Server), (false, other, Client)], attributor.Calls);
        Assert.Equal(3, queue.Lookups);
        Assert.Equal(2, queue.Coalesced);
    }

    [Fact]
    public void Queue_TcpAlternate_TriedOnlyWhenTheDestinationFindsNothing()
    {
        var alternate = new IPEndPoint(IPAddress.Loopback, 15443);
        using var attributor = new GatedAttributor(Known, answerOnlyFor: alternate);
        attributor.Release();
        using var queue = new AttributionQueue(attributor, "test");
        var pending = queue.Tcp(Client, Server, alternate);
        Assert.True(SpinWait.SpinUntil(() => pending.IsCompleted, TimeSpan.FromSeconds(10)));
        Assert.True(pending.TryGetResult(out var a));
        Assert.Equal(4242, a.Process?.Pid);
        Assert.Equal([(true, Client, Server), (true, Client, alternate)], attributor.Calls);
    }

    [Fact]
    public void Queue_Dispose_FinishesQueuedLookups_ThenRefusesNewOnes()
    {
        var attributor = new GatedAttributor(Known);
        var queue = new AttributionQueue(attributor, "test");
        var sink = new ListSink();
        for (var i = 0; i < 20; i++)
        {
            sink.PublishAttributed(new NetworkEvent(DateTimeOffset.UnixEpoch, "tcp", null, "192.0.2.2", 9000 + i, Decision.Deny, NetworkEvent.Blocked, "r"), queue.Tcp(Client, Server));
        }

        attributor.Release();
        queue.Dispose();
        Assert.Equal(20, sink.Events.Count); // every event published by the time Dispose returns
        Assert.All(sink.Events, x => Assert.Equal(4242, ((NetworkEvent)x).Process?.Pid));

        var late = queue.Udp(Client, Server);
        Assert.True(late.IsCompleted);
        Assert.True(late.TryGetResult(out var none));
        Assert.Null(none.Process);
        attributor.Dispose();
    }

    private sealed class ListSink : IEventSink
    {
        private readonly Lock _gate = new();
        private readonly List<ApplianceEvent> _events = [];

        public IReadOnlyList<ApplianceEvent> Events
        {
            get
            {
                lock (_gate)
                {
                    return [.. _events];
                }
            }
        }

        public void Publish(ApplianceEvent e)
        {
            lock (_gate)
            {
                _events.Add(e);
            }
        }
    }

    /// <summary>Answers <paramref name="result"/> (for every destination, or only <paramref name="answerOnlyFor"/>) once released.</summary>
    private sealed class GatedAttributor(Attribution result, IPEndPoint? answerOnlyFor = null) : IProcessAttributor, IDisposable
    {
        private readonly ManualResetEventSlim _gate = new();
        private readonly Lock _lock = new();
        private readonly List<(bool, IPEndPoint, IPEndPoint?)> _calls = [];
        private int _started;

        public int Started => Volatile.Read(ref _started);

        public IReadOnlyList<(bool Tcp, IPEndPoint Client, IPEndPoint? Destination)> Calls
        {
            get
            {
                lock (_lock)
                {
                    return [.. _calls];
                }
            }
        }

        public void Release() => _gate.Set();

        public Attribution AttributeTcp(IPEndPoint client, IPEndPoint? originalDestination) => Answer(true, client, originalDestination);

        public Attribution AttributeUdp(IPEndPoint client, IPEndPoint? destination = null, IPEndPoint? alternate = null) => Answer(false, client, destination);

        public Attribution AttributePid(int pid) => throw new NotSupportedException();

        public void Dispose() => _gate.Dispose();

        private Attribution Answer(bool tcp, IPEndPoint client, IPEndPoint? destination)
        {
            Interlocked.Increment(ref _started);
            _gate.Wait(TimeSpan.FromSeconds(30));
            lock (_lock)
            {
                _calls.Add((tcp, client, destination));
            }

            return answerOnlyFor is null || answerOnlyFor.Equals(destination) ? result : Attribution.Unknown;
        }
    }
}
