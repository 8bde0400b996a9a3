namespace HardenRunner.Monitoring.Network;

/// <summary>
/// The result of a socket-owner lookup that may still be running (<see cref="AttributionQueue"/>). Actions given to
/// <see cref="Then"/> run once it is known: at once when it already is, else on the queue's thread as soon as the
/// lookup ends — so they must be short (publishing an event), never a wait. One lookup may serve several events (every
/// request of a proxied connection, every query of a DNS TCP connection).
/// </summary>
public sealed class PendingAttribution
{
    private readonly Lock _gate = new();
    private List<Action<Attribution>>? _waiting;
    private Attribution _result;
    private volatile bool _done;

    internal PendingAttribution()
    {
    }

    private PendingAttribution(Attribution result)
    {
        _result = result;
        _done = true;
    }

    /// <summary>A lookup that found nothing and will not be done (no attributor, queue full, stopping).</summary>
    public static PendingAttribution Unknown { get; } = new(Attribution.Unknown);

    /// <summary>True once the result is known.</summary>
    public bool IsCompleted => _done;

    /// <summary>A lookup whose result is already known.</summary>
    public static PendingAttribution FromResult(Attribution result) => new(result);

    /// <summary>The result when known.</summary>
    public bool TryGetResult(out Attribution result)
    {
        result = _done ? _result : Attribution.Unknown;
        return _done;
    }

    /// <summary>Runs <paramref name="action"/> with the result: now when it is known, else when the lookup ends.</summary>
    public void Then(Action<Attribution> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        if (!_done)
        {
            lock (_gate)
            {
                if (!_done)
                {
                    (_waiting ??= []).Add(action);
                    return;
                }
            }
        }

        action(_result);
    }

    /// <summary>
    /// Completes when the result is known or after <paramref name="limit"/>, whichever is first (never faults). For a
    /// caller that can hold its client for a moment without the client going away — a proxied connection before the
    /// TLS handshake: the client waits for the server's answer, so its socket is still there to be found.
    /// </summary>
    public async ValueTask WaitAsync(TimeSpan limit)
    {
        if (_done)
        {
            return;
        }

        var known = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Then(_ => known.TrySetResult());
        try
        {
            await known.Task.WaitAsync(limit).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // the events of this connection are still published when the lookup ends, with what it found
        }
    }

    /// <summary>Sets the result and runs the waiting actions; returns how many of them threw (each runs regardless).</summary>
    internal int Complete(Attribution result)
    {
        List<Action<Attribution>>? waiting;
        lock (_gate)
        {
            if (_done)
            {
                return 0;
            }

            _result = result;
            _done = true;
            waiting = _waiting;
            _waiting = null;
        }

        var failed = 0;
        foreach (var action in waiting ?? [])
        {
            try
            {
                action(result);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed++;
            }
        }

        return failed;
    }
}
