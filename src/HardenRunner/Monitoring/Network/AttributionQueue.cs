using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace HardenRunner.Monitoring.Network;

/// <summary>
/// Runs socket-owner lookups (<see cref="IProcessAttributor"/>) on one dedicated thread, so that the component that
/// saw the traffic never waits for them: it starts a lookup the moment it learns the client's endpoint (while the
/// client's socket surely exists) and goes on answering; the event is published when the lookup is done
/// (<see cref="AttributedEvents"/>). Bounded: when the queue is full the lookup is skipped (the event stays
/// unattributed, counted in <see cref="Skipped"/>), never waited for. Lookups never throw; a result is never guessed.
/// Lookups already waiting together for the same socket (the same protocol, client end and destination — a client
/// sending many queries from one socket) are answered by one lookup (<see cref="Coalesced"/>): each of their packets
/// arrived before that lookup ran, so it finds the same socket a lookup of its own would have found.
/// </summary>
public sealed class AttributionQueue : IDisposable
{
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);
    private const int MaxBatch = 256;

    private readonly IProcessAttributor _attributor;
    private readonly BlockingCollection<Lookup> _queue;
    private readonly Thread _thread;
    private int _disposed;
    private long _lookups;
    private long _found;
    private long _skipped;
    private long _coalesced;
    private long _publishErrors;
    private long _waitTicks;
    private long _lookupTicks;

    public AttributionQueue(IProcessAttributor attributor, string name, int capacity = 16_384)
    {
        ArgumentNullException.ThrowIfNull(attributor);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _attributor = attributor;
        _queue = new BlockingCollection<Lookup>(new ConcurrentQueue<Lookup>(), capacity);
        _thread = new Thread(Work) { IsBackground = true, Name = "hr-attribution-" + name };
        _thread.Start();
    }

    /// <summary>Lookups done.</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    /// <summary>Lookups that named a process.</summary>
    public long Found => Interlocked.Read(ref _found);

    /// <summary>Lookups answered by the lookup of an identical one waiting beside them (not counted in <see cref="Lookups"/>).</summary>
    public long Coalesced => Interlocked.Read(ref _coalesced);

    /// <summary>Lookups not done because the queue was full or stopped (their events are unattributed).</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>
    /// The owner of a TCP client socket whose local end is <paramref name="client"/> and whose peer is
    /// <paramref name="destination"/> (the original destination); when that finds nothing, <paramref name="alternate"/>
    /// is tried as the peer (the accepting socket's own end: a connection that was not redirected).
    /// </summary>
    public PendingAttribution Tcp(IPEndPoint client, IPEndPoint? destination, IPEndPoint? alternate = null) =>
        Enqueue(new Lookup(true, client, destination, alternate));

    /// <summary>
    /// The owner of the UDP socket that sent from <paramref name="client"/> to <paramref name="destination"/>; with
    /// <paramref name="alternate"/>, a second guess at where it was sent (see <see cref="IProcessAttributor.AttributeUdp"/>).
    /// </summary>
    public PendingAttribution Udp(IPEndPoint client, IPEndPoint? destination, IPEndPoint? alternate = null) =>
        Enqueue(new Lookup(false, client, destination, alternate));

    /// <summary>Mean time a lookup waited in the queue before it started, in microseconds.</summary>
    public double MeanWaitMicroseconds => Lookups == 0 ? 0 : Interlocked.Read(ref _waitTicks) * 1e6 / Stopwatch.Frequency / Lookups;

    /// <summary>Mean time a lookup took once started, in microseconds.</summary>
    public double MeanLookupMicroseconds => Lookups == 0 ? 0 : Interlocked.Read(ref _lookupTicks) * 1e6 / Stopwatch.Frequency / Lookups;

    /// <summary>Events whose publishing threw after their lookup (the sink failed); the queue goes on.</summary>
    public long PublishErrors => Interlocked.Read(ref _publishErrors);

    /// <summary>Finishes the lookups already queued (bounded in time; the rest complete as unknown) and stops the thread.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _queue.CompleteAdding();
        if (Thread.CurrentThread != _thread && !_thread.Join(DrainTimeout))
        {
            // the attributor is stuck (it never should be): whatever is still queued is published unattributed
            while (_queue.TryTake(out var left))
            {
                Interlocked.Increment(ref _skipped);
                Interlocked.Add(ref _publishErrors, left.Result.Complete(Attribution.Unknown));
            }
        }
    }

    private PendingAttribution Enqueue(Lookup lookup)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            try
            {
                if (_queue.TryAdd(lookup))
                {
                    return lookup.Result;
                }
            }
            catch (InvalidOperationException)
            {
                // completed for adding: stopping
            }
        }

        Interlocked.Increment(ref _skipped);
        return PendingAttribution.Unknown;
    }

    private void Work()
    {
        // a lookup races the client's close(): a lower nice value (root only; ignored otherwise) lets this thread
        // preempt the job's processes when a lookup arrives, as the proc connector's reader does
        _ = MonitorInterop.SetPriority(0 /* PRIO_PROCESS */, MonitorInterop.GetTid(), -10);
        var batch = new List<Lookup>(MaxBatch);
        var done = new Dictionary<LookupKey, Attribution>();
        foreach (var first in _queue.GetConsumingEnumerable())
        {
            // what else is waiting now: identical lookups among them are done once; events keep their queue order
            batch.Add(first);
            while (batch.Count < MaxBatch && _queue.TryTake(out var more))
            {
                batch.Add(more);
            }

            foreach (var lookup in batch)
            {
                var key = new LookupKey(lookup.Tcp, lookup.Client, lookup.Destination, lookup.Alternate);
                if (done.TryGetValue(key, out var result))
                {
                    Interlocked.Increment(ref _coalesced);
                }
                else
                {
                    result = Run(lookup);
                    done[key] = result;
                }

                // the waiting events are published here, on this thread
                Interlocked.Add(ref _publishErrors, lookup.Result.Complete(result));
            }

            batch.Clear();
            done.Clear();
        }
    }

    private Attribution Run(Lookup lookup)
    {
        var result = Attribution.Unknown;
        var started = Stopwatch.GetTimestamp();
        Interlocked.Add(ref _waitTicks, started - lookup.Queued);
        try
        {
            result = lookup.Tcp
                ? _attributor.AttributeTcp(lookup.Client, lookup.Destination)
                : _attributor.AttributeUdp(lookup.Client, lookup.Destination, lookup.Alternate);
            if (lookup.Tcp && result.Process is null && lookup.Alternate is { } alternate && !alternate.Equals(lookup.Destination))
            {
                result = _attributor.AttributeTcp(lookup.Client, alternate);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // the attributor never throws; if one does, the event stays unattributed rather than lost
            result = Attribution.Unknown;
        }

        Interlocked.Add(ref _lookupTicks, Stopwatch.GetTimestamp() - started);
        Interlocked.Increment(ref _lookups);
        if (result.Process is not null)
        {
            Interlocked.Increment(ref _found);
        }

        return result;
    }

    private readonly record struct LookupKey(bool Tcp, IPEndPoint Client, IPEndPoint? Destination, IPEndPoint? Alternate);

    private sealed class Lookup(bool tcp, IPEndPoint client, IPEndPoint? destination, IPEndPoint? alternate)
    {
        public bool Tcp { get; } = tcp;

        public IPEndPoint Client { get; } = client;

        public IPEndPoint? Destination { get; } = destination;

        public IPEndPoint? Alternate { get; } = alternate;

        public long Queued { get; } = Stopwatch.GetTimestamp();

        public PendingAttribution Result { get; } = new();
    }
}
