using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using HardenRunner.Policy.Model;

namespace HardenRunner.Events;

/// <summary>
/// Writes every event as one JSON line (events.jsonl under the state directory). Publishing never blocks the
/// caller: events go through a bounded channel to one writer task; when the channel is full the publisher waits
/// briefly rather than dropping, and anything that still cannot be queued is counted in <see cref="Dropped"/>
/// (and reported at stop) — never lost silently. Each batch the writer takes from the queue is flushed, so a crash
/// loses at most the queue. The writer task reuses one buffer and one <see cref="Utf8JsonWriter"/> and writes UTF-8
/// bytes straight to the file (no string per event).
/// </summary>
public sealed class JsonlEventSink : IEventSink, IAsyncDisposable
{
    private readonly Channel<ApplianceEvent> _channel = Channel.CreateBounded<ApplianceEvent>(
        new BoundedChannelOptions(65536) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly FileStream _file;
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _json;
    private readonly Task _pump;
    private readonly string _runId;
    private long _dropped;
    private long _written;

    public JsonlEventSink(string path, string runId)
    {
        _runId = runId;
        _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read, bufferSize: 64 * 1024);
        _json = new Utf8JsonWriter(_buffer);
        _pump = Task.Run(PumpAsync);
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public long Written => Interlocked.Read(ref _written);

    public void Publish(ApplianceEvent e)
    {
        if (_channel.Writer.TryWrite(e))
        {
            return;
        }

        // full: wait a little (back-pressure) rather than drop
        var write = _channel.Writer.WriteAsync(e);
        if (!write.IsCompleted && !write.AsTask().Wait(TimeSpan.FromSeconds(2)))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        await _json.DisposeAsync().ConfigureAwait(false);
        await _file.DisposeAsync().ConfigureAwait(false);
    }

    private async Task PumpAsync()
    {
        var reader = _channel.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var e))
            {
                // nothing secret reaches the file: tokens, Authorization values, credentials in command lines
                Serialize(HardenRunner.Reporting.EventRedactor.Redact(e));
                if (_buffer.WrittenCount >= 64 * 1024)
                {
                    await _file.WriteAsync(_buffer.WrittenMemory).ConfigureAwait(false);
                    _buffer.ResetWrittenCount();
                }

                Interlocked.Increment(ref _written);
            }

            await _file.WriteAsync(_buffer.WrittenMemory).ConfigureAwait(false);
            _buffer.ResetWrittenCount();
            await _file.FlushAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Appends one line (the event as JSON and a newline) to the buffer.</summary>
    private void Serialize(ApplianceEvent e)
    {
        var w = _json;
        w.Reset(_buffer);
        w.WriteStartObject();
        w.WriteString("run", _runId);
        WriteTime(w, "time", e.Time);
        switch (e)
        {
            case NetworkEvent n:
                w.WriteString("type", "network");
                w.WriteString("kind", n.Kind);
                WriteNullable(w, "host", n.Host);
                WriteNullable(w, "address", n.Address);
                w.WriteNumber("port", n.Port);
                WriteNullable(w, "queryType", n.QueryType);
                WriteNullable(w, "method", n.Method);
                WriteNullable(w, "path", n.Path);
                w.WriteString("decision", n.Decision == Decision.Allow ? "allow" : "deny");
                w.WriteString("action", n.Action);
                w.WriteString("rule", n.Rule);
                WriteAttribution(w, n.Process, n.Step);
                break;
            case DetectionEvent d:
                w.WriteString("type", "detection");
                w.WriteString("detection", d.Type);
                w.WriteString("severity", d.Severity);
                w.WriteString("summary", d.Summary);
                w.WriteStartObject("evidence");
                foreach (var (k, v) in d.Evidence)
                {
                    w.WriteString(k, v);
                }

                w.WriteEndObject();
                WriteAttribution(w, d.Process, d.Step);
                break;
            case ProcessEvent p:
                w.WriteString("type", "process");
                w.WriteNumber("pid", p.Pid);
                w.WriteNumber("ppid", p.Ppid);
                WriteNullable(w, "exe", p.Exe);
                WriteNullable(w, "cmdline", p.Cmdline);
                WriteTime(w, "start", p.Start);
                w.WriteNumber("uid", p.Uid);
                w.WriteNumber("euid", p.Euid);
                WriteAttribution(w, null, p.Step);
                break;
            case FileEvent f:
                w.WriteString("type", "file");
                w.WriteString("path", f.Path);
                w.WriteString("operation", f.Operation);
                w.WriteBoolean("tracked", f.Tracked);
                WriteAttribution(w, f.Process, f.Step);
                break;
            default:
                w.WriteString("type", e.GetType().Name);
                break;
        }

        w.WriteEndObject();

        w.Flush();
        _buffer.Write("\n"u8);
    }

    /// <summary>The round-trip ("O") UTC form, formatted on the stack.</summary>
    private static void WriteTime(Utf8JsonWriter w, string name, DateTimeOffset time)
    {
        Span<char> text = stackalloc char[40];
        if (!time.UtcDateTime.TryFormat(text, out var length, "O", CultureInfo.InvariantCulture))
        {
            w.WriteString(name, time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            return;
        }

        w.WriteString(name, text[..length]);
    }

    private static void WriteAttribution(Utf8JsonWriter w, ProcessInfo? process, StepInfo? step)
    {
        HardenRunner.Store.EventCodec.WriteProcessInfo(w, "process", process);
        HardenRunner.Store.EventCodec.WriteStepInfo(w, "step", step);
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value) => HardenRunner.Store.EventCodec.WriteNullable(w, name, value);
}
