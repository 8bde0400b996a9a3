using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;

namespace HardenRunner.Tls;

/// <summary>
/// A bounded cache whose values are created once per key even when many threads ask for a new key at the same time
/// (a Lazy per key, published through the dictionary). Beyond the capacity the oldest keys are dropped (first in,
/// first out); a hit takes no lock. A failed creation is not cached.
/// </summary>
// Lazy<T> asks for T's constructor (its parameterless form would create a T); ours always passes a factory
internal sealed class ServerContextCache<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] T>(int capacity)
    where T : class
{
    private readonly ConcurrentDictionary<string, Lazy<T>> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();
    private readonly Lock _evictLock = new();

    public int Count => _entries.Count;

    /// <summary>The value for <paramref name="key"/> when it is cached (waiting for a creation in progress).</summary>
    public bool TryGet(string key, [NotNullWhen(true)] out T? value)
    {
        value = _entries.TryGetValue(key, out var entry) ? ValueOf(key, entry) : null;
        return value is not null;
    }

    public T GetOrCreate(string key, Func<string, T> factory)
    {
        if (_entries.TryGetValue(key, out var cached))
        {
            return ValueOf(key, cached);
        }

        var fresh = new Lazy<T>(() => factory(key), LazyThreadSafetyMode.ExecutionAndPublication);
        var entry = _entries.GetOrAdd(key, fresh);
        if (ReferenceEquals(entry, fresh))
        {
            _order.Enqueue(key);
            EvictBeyondCapacity();
        }

        return ValueOf(key, entry);
    }

    private T ValueOf(string key, Lazy<T> entry)
    {
        try
        {
            return entry.Value;
        }
        catch
        {
            _entries.TryRemove(new KeyValuePair<string, Lazy<T>>(key, entry));
            throw;
        }
    }

    private void EvictBeyondCapacity()
    {
        if (_entries.Count <= capacity)
        {
            return;
        }

        lock (_evictLock)
        {
            while (_entries.Count > capacity && _order.TryDequeue(out var oldest))
            {
                _entries.TryRemove(oldest, out _);
            }
        }
    }
}
