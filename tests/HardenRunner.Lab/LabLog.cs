using System.Text;
using System.Text.Json;
using HardenRunner.Lab.Contract;

namespace HardenRunner.Lab;

/// <summary>
/// One JSON-lines log of the lab internet (DNS queries, HTTP requests, TCP connections or UDP datagrams), read
/// from the file the lab internet appends to. Records are written before the server answers (TCP: when the
/// connection ends), so after a client got its answer a record is already there; use <see cref="WaitForAsync"/>
/// for TCP and for anything asynchronous.
/// </summary>
public sealed class LabLog<T>
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(25);

    internal LabLog(string path) => Path = path;

    public string Path { get; }

    /// <summary>Every complete record so far (a line being written is skipped until it is complete).</summary>
    public IReadOnlyList<T> Read()
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        byte[] bytes;
        using (var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            using var memory = new MemoryStream();
            stream.CopyTo(memory);
            bytes = memory.ToArray();
        }

        var end = Array.LastIndexOf(bytes, (byte)'\n');
        if (end < 0)
        {
            return [];
        }

        var records = new List<T>();
        foreach (var line in Encoding.UTF8.GetString(bytes, 0, end).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            records.Add(JsonSerializer.Deserialize<T>(line, LabJson.Options)
                ?? throw new LabException($"null record in {Path}"));
        }

        return records;
    }

    /// <summary>Waits until a record matches; throws <see cref="TimeoutException"/> listing what did arrive.</summary>
    public async Task<T> WaitForAsync(Func<T, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var records = Read();
            foreach (var record in records)
            {
                if (predicate(record))
                {
                    return record;
                }
            }

            if (DateTime.UtcNow >= deadline)
            {
                var seen = string.Join("\n  ", records.TakeLast(20).Select(r => JsonSerializer.Serialize(r, LabJson.Options)));
                throw new TimeoutException($"no matching {typeof(T).Name} in {Path} within {timeout}; last records:\n  {seen}");
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>True if no record matches during <paramref name="window"/> (for "this must not arrive" checks).</summary>
    public async Task<bool> NoneWithinAsync(Func<T, bool> predicate, TimeSpan window, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        var deadline = DateTime.UtcNow + window;
        do
        {
            if (Read().Any(predicate))
            {
                return false;
            }

            await Task.Delay(PollInterval, cancellationToken).ConfigureAwait(false);
        }
        while (DateTime.UtcNow < deadline);

        return !Read().Any(predicate);
    }
}
