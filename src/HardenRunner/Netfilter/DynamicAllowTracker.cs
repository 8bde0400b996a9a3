namespace HardenRunner.Netfilter;

/// <summary>
/// What the appliance has put into the dynamic allow sets and until when (monotonic time). Decides which requested
/// elements need an nft call (new, or expiring before the new TTL), which elements to restore after a re-apply,
/// and which listed elements the appliance never added (tampering). Thread-safe.
/// </summary>
public sealed class DynamicAllowTracker
{
    /// <summary>Slack for kernel timers that started after our clock read, and for whole-second listings.</summary>
    public static readonly TimeSpan ListingTolerance = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan PruneAfter = TimeSpan.FromSeconds(30);

    private readonly Dictionary<AllowElement, TimeSpan> _expiry = [];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly long _origin;

    public DynamicAllowTracker(TimeSpan ttlFloor, TimeSpan ttlCap, TimeProvider? time = null)
    {
        if (ttlFloor <= TimeSpan.Zero || ttlCap < ttlFloor)
        {
            throw new ArgumentException("allow TTLs need 0 < floor <= cap");
        }

        TtlFloor = ttlFloor;
        TtlCap = ttlCap;
        _time = time ?? TimeProvider.System;
        _origin = _time.GetTimestamp();
    }

    public TimeSpan TtlFloor { get; }

    public TimeSpan TtlCap { get; }

    /// <summary>Monotonic "now" of this tracker.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_origin);

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _expiry.Count;
            }
        }
    }

    /// <summary>The TTL clamped to [floor, cap].</summary>
    public TimeSpan Clamp(TimeSpan ttl) => ttl < TtlFloor ? TtlFloor : ttl > TtlCap ? TtlCap : ttl;

    /// <summary>
    /// The elements that need an nft call so that each stays allowed for at least the clamped TTL from now. Each is
    /// installed for the TTL plus headroom (a quarter, 1 s to 5 min), so frequent answers for the same name cost one
    /// nft call per headroom period, not one per answer.
    /// </summary>
    public List<AllowElementTimeout> Needed(IEnumerable<AllowElement> elements, TimeSpan ttl)
    {
        ArgumentNullException.ThrowIfNull(elements);
        var clamped = Clamp(ttl);
        var headroom = TimeSpan.FromTicks(Math.Clamp(clamped.Ticks / 4, TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromMinutes(5).Ticks));
        var mustLast = Now + clamped;
        var needed = new List<AllowElementTimeout>();
        lock (_lock)
        {
            foreach (var e in elements)
            {
                if (_expiry.TryGetValue(e, out var until) && until >= mustLast)
                {
                    continue;
                }

                if (!needed.Exists(n => n.Element == e))
                {
                    needed.Add(new AllowElementTimeout(e, clamped + headroom));
                }
            }
        }

        return needed;
    }

    /// <summary>Records elements the kernel accepted in a transaction that started at <paramref name="startedAt"/> (<see cref="Now"/> before the call).</summary>
    public void Committed(IEnumerable<AllowElementTimeout> installed, TimeSpan startedAt)
    {
        ArgumentNullException.ThrowIfNull(installed);
        lock (_lock)
        {
            foreach (var (element, timeout) in installed)
            {
                var until = startedAt + timeout;
                if (!_expiry.TryGetValue(element, out var current) || current < until)
                {
                    _expiry[element] = until;
                }
            }

            Prune();
        }
    }

    /// <summary>Forgets every element (the table was replaced with empty sets: a policy switch).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _expiry.Clear();
        }
    }

    /// <summary>Elements still valid, with their remaining time (to restore them after a re-apply).</summary>
    public List<AllowElementTimeout> Live()
    {
        var now = Now;
        lock (_lock)
        {
            return [.. _expiry.Where(kv => kv.Value - now >= TimeSpan.FromSeconds(1)).Select(kv => new AllowElementTimeout(kv.Key, kv.Value - now))];
        }
    }

    /// <summary>
    /// Listed elements the appliance did not add: unknown elements, elements without a timeout, and elements that
    /// outlive what the appliance installed. Empty when the sets hold only the appliance's own elements.
    /// </summary>
    public List<string> Unexpected(IEnumerable<ListedElement> listed)
    {
        ArgumentNullException.ThrowIfNull(listed);
        var now = Now;
        var unexpected = new List<string>();
        lock (_lock)
        {
            foreach (var l in listed)
            {
                if (l.Element is not { } e || !_expiry.TryGetValue(e, out var until))
                {
                    unexpected.Add(l.Element?.ToString() ?? l.Text);
                }
                else if (l.Expires is not { } remaining)
                {
                    unexpected.Add(e + " (no timeout)");
                }
                else if (remaining > until - now + ListingTolerance)
                {
                    unexpected.Add($"{e} (expires in {remaining.TotalSeconds:0}s, installed for {Math.Max(0, (until - now).TotalSeconds):0}s)");
                }
            }
        }

        return unexpected;
    }

    private void Prune()
    {
        var limit = Now - PruneAfter;
        List<AllowElement>? old = null;
        foreach (var (e, until) in _expiry)
        {
            if (until < limit)
            {
                (old ??= []).Add(e);
            }
        }

        foreach (var e in old ?? [])
        {
            _expiry.Remove(e);
        }
    }
}
