using HardenRunner.Events;

namespace HardenRunner.Monitoring.Files;

/// <summary>
/// Names the process behind a change as soon as the watcher reads it, while a short-lived writer (sed, a shell's
/// echo) is most likely still alive, and remembers the answer per pid for a moment so a burst of writes by one
/// process costs one look-up. An entry is reused only while /proc/&lt;pid&gt;/exe still reads the same (a pid that
/// exec'd another program is looked up again) or the process is gone. Owned by the reader thread.
/// </summary>
internal sealed class WriterAttributionCache(Func<int, (ProcessInfo? Process, StepInfo? Step)> attribute, TimeSpan ttl, int capacity = 4096)
{
    private readonly Dictionary<int, Entry> _entries = [];
    private readonly long _ttlTicks = (long)(ttl.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);

    public long Lookups { get; private set; }

    public (ProcessInfo? Process, StepInfo? Step) Get(int pid)
    {
        if (pid <= 0)
        {
            return (null, null);
        }

        var now = System.Diagnostics.Stopwatch.GetTimestamp();
        var exe = FanotifyInterop.ReadLinkText($"/proc/{pid}/exe");
        if (_entries.TryGetValue(pid, out var e) && now - e.Stamp < _ttlTicks && (exe is null || string.Equals(exe, e.Exe, StringComparison.Ordinal)))
        {
            return (e.Process, e.Step);
        }

        Lookups++;
        (ProcessInfo? Process, StepInfo? Step) result;
        try
        {
            result = attribute(pid);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            result = (null, null);
        }

        if (_entries.Count >= capacity)
        {
            _entries.Clear();
        }

        _entries[pid] = new Entry(now, exe ?? result.Process?.Exe, result.Process, result.Step);
        return result;
    }

    private readonly record struct Entry(long Stamp, string? Exe, ProcessInfo? Process, StepInfo? Step);
}
