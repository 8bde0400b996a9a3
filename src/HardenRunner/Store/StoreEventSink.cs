using System.Threading.Channels;
using HardenRunner.Events;

namespace HardenRunner.Store;

/// <summary>Tuning of <see cref="StoreEventSink"/>.</summary>
public sealed record StoreEventSinkOptions
{
    /// <summary>Events queued between publishers and the writer.</summary>
    public int Capacity { get; init; } = 65_536;

    /// <summary>Most events committed in one transaction.</summary>
    public int MaxBatchSize { get; init; } = 1_000;

    /// <summary>
    /// How long the writer lets events gather after the first one arrives, unless a full batch is already queued:
    /// fewer, larger transactions (each commit rewrites the pages it touched into the WAL, and each wake-up of the writer
    /// costs the publishing thread a futex call). Zero commits as soon as anything is queued.
    /// </summary>
    public TimeSpan Linger { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>How long a publisher waits for room in a full queue before the event is counted as dropped.</summary>
    public TimeSpan PublishTimeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Waits before retrying a batch the store refused; after the last one the batch is counted as failed.</summary>
    public IReadOnlyList<TimeSpan> RetryDelays { get; init; } = [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1)];
}

/// <summary>
/// Sends events to an <see cref="IEventStore"/> for one run. <see cref="Publish"/> queues the event in a bounded
/// channel and returns; one writer thread commits what is queued (group commit, up to
/// <see cref="StoreEventSinkOptions.MaxBatchSize"/> per transaction, after letting events gather for at most
/// <see cref="StoreEventSinkOptions.Linger"/>). The writer is a thread of its own, not a thread-pool loop: a commit
/// holds its thread for the store's write and <c>fsync</c> (0.3–2 ms measured), which on a two-core runner left the
/// pool's other thread alone with the proxy's accepts and the DNS server's upstream answers. Nothing is lost silently:
/// a full queue makes the publisher wait (counted in <see cref="BackPressureWaits"/>) and, past the timeout, the event
/// is counted in <see cref="Dropped"/>; events of types the store does not keep are counted in <see cref="Rejected"/>;
/// a batch the store still refuses after the retries is counted in <see cref="Failed"/>. <see cref="Acknowledged"/>
/// counts committed events, in publication order: the first <c>Acknowledged</c> accepted events are in the store.
/// </summary>
public sealed class StoreEventSink : IEventSink, IAsyncDisposable
{
    private readonly IEventStore _store;
    private readonly string _runId;
    private readonly StoreEventSinkOptions _options;
    private readonly Channel<ApplianceEvent> _channel;
    private readonly Thread _thread;
    private readonly TaskCompletionSource _writer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _accepted;
    private long _acknowledged;
    private long _backPressureWaits;
    private long _dropped;
    private long _rejected;
    private long _failed;
    private long _batches;
    private long _maxBatch;
    private string? _lastError;

    public StoreEventSink(IEventStore store, string runId, StoreEventSinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrEmpty(runId);
        _store = store;
        _runId = runId;
        _options = options ?? new StoreEventSinkOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxBatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Linger, TimeSpan.Zero);
        _channel = Channel.CreateBounded<ApplianceEvent>(new BoundedChannelOptions(_options.Capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "hr-store-writer" };
        _thread.Start();
    }

    /// <summary>Events queued for the store.</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Events committed to the store.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>Times a publisher found the queue full and had to wait.</summary>
    public long BackPressureWaits => Interlocked.Read(ref _backPressureWaits);

    /// <summary>Events not queued: the queue stayed full past the timeout, or the sink was already closed.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events of a type the store does not keep.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Queued events the store refused even after the retries.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Everything published that will never be in the store.</summary>
    public long Lost => Dropped + Rejected + Failed;

    /// <summary>Transactions committed.</summary>
    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>The largest batch committed.</summary>
    public long MaxBatch => Interlocked.Read(ref _maxBatch);

    /// <summary>Queued, not yet committed or failed.</summary>
    public long Pending => Accepted - Acknowledged - Failed;

    /// <summary>Why the last batch failed, if one did.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    public void Publish(ApplianceEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (EventKinds.Of(e) is null)
        {
            Interlocked.Increment(ref _rejected);
            return;
        }

        if (_channel.Writer.TryWrite(e))
        {
            Interlocked.Increment(ref _accepted);
            return;
        }

        Interlocked.Increment(ref _backPressureWaits);
        using var timeout = new CancellationTokenSource(_options.PublishTimeout);
        try
        {
            // the token cancels the pending write too, so a timed-out event is never written later
            _channel.Writer.WriteAsync(e, timeout.Token).AsTask().GetAwaiter().GetResult();
            Interlocked.Increment(ref _accepted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Waits until every event accepted before the call is committed (or has failed).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var target = Accepted;
        while (Acknowledged + Failed < target && !_writer.Task.IsCompleted)
        {
            await Task.Delay(2, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stops accepting events and waits until every queued one is committed (or has failed).</summary>
    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _writer.Task.ConfigureAwait(false);
    }

    private void WriteLoop()
    {
        try
        {
            var reader = _channel.Reader;
            var batch = new List<ApplianceEvent>(_options.MaxBatchSize);
            while (reader.WaitToReadAsync().AsTask().GetAwaiter().GetResult())
            {
                if (_options.Linger > TimeSpan.Zero && reader.Count < _options.MaxBatchSize)
                {
                    Thread.Sleep(_options.Linger);
                }

                while (batch.Count < _options.MaxBatchSize && reader.TryRead(out var e))
                {
                    batch.Add(e);
                }

                Commit(batch);
                batch.Clear();
            }

            _writer.TrySetResult();
        }
        catch (Exception e)
        {
            // only a store that throws what no retry covers gets here: the queue is closed, so publishers count their
            // events as dropped at once instead of waiting for room, and the sink's owner sees the failure on dispose
            Volatile.Write(ref _lastError, e.Message);
            _channel.Writer.TryComplete(e);
            _writer.TrySetException(e);
        }
    }

    private void Commit(List<ApplianceEvent> batch)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                // a synchronous store (the local SQLite one) does its work right here; a remote one blocks this thread only
                _store.AppendAsync(_runId, batch).GetAwaiter().GetResult();
                Interlocked.Add(ref _acknowledged, batch.Count);
                Interlocked.Increment(ref _batches);
                if (batch.Count > Interlocked.Read(ref _maxBatch))
                {
                    Interlocked.Exchange(ref _maxBatch, batch.Count);
                }

                return;
            }
            catch (Exception ex) when (ex is StoreException or ArgumentException or ObjectDisposedException or IOException)
            {
                Volatile.Write(ref _lastError, ex.Message);
                if (attempt >= _options.RetryDelays.Count || ex is ArgumentException or ObjectDisposedException)
                {
                    Interlocked.Add(ref _failed, batch.Count);
                    return;
                }

                Thread.Sleep(_options.RetryDelays[attempt]);
            }
        }
    }
}
