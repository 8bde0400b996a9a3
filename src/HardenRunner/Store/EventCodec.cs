using System.Buffers;
using System.Globalization;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Policy.Model;

namespace HardenRunner.Store;

/// <summary>
/// An event as the store keeps it: the typed columns reports and queries filter on, and the whole event as JSON.
/// <see cref="Path"/> is the request path of a network event or the file path of a file event.
/// </summary>
public sealed record EncodedEvent(
    EventKind Kind,
    DateTimeOffset Time,
    string? NetKind,
    string? Host,
    string? Address,
    int? Port,
    string? Decision,
    string? Action,
    string? Method,
    string? Path,
    string? Operation,
    string? DetectionType,
    string? Severity,
    int? Pid,
    string? StepAction,
    byte[] DataUtf8)
{
    /// <summary>
    /// The event's (redacted) process when <see cref="DataUtf8"/> leaves it out, for a store that keeps each process once
    /// and references it (<see cref="EventCodec.EncodeAll(IReadOnlyList{ApplianceEvent}, bool)"/>); null otherwise.
    /// </summary>
    public ProcessInfo? SeparateProcess { get; init; }

    /// <summary>The whole event as JSON text (<see cref="DataUtf8"/> decoded).</summary>
    public string Data => System.Text.Encoding.UTF8.GetString(DataUtf8);
}

/// <summary>
/// Turns events into <see cref="EncodedEvent"/>s and back; shared by every <see cref="IEventStore"/> implementation
/// so that they store the same thing. Encoding redacts first (<see cref="Reporting.EventRedactor"/>).
/// </summary>
public static class EventCodec
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>Times are stored as UTC text that sorts in time order.</summary>
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    // the round-trip format of a UTC DateTime is exactly TimeFormat, and .NET formats it on a fast path
    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTime(string text) =>
        new(DateTime.ParseExact(text, TimeFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal), TimeSpan.Zero);

    public static string DecisionText(Decision d) => d == Decision.Allow ? "allow" : "deny";

    /// <summary>
    /// Encodes (and redacts) a batch; an event type the store does not keep fails the whole batch. With
    /// <paramref name="separateProcess"/> the JSON leaves out the event's process object, which is returned in
    /// <see cref="EncodedEvent.SeparateProcess"/> instead (the SQLite store keeps each process once).
    /// </summary>
    public static EncodedEvent[] EncodeAll(IReadOnlyList<ApplianceEvent> events, bool separateProcess = false)
    {
        ArgumentNullException.ThrowIfNull(events);
        var encoded = new EncodedEvent[events.Count];
        for (var i = 0; i < encoded.Length; i++)
        {
            encoded[i] = Encode(events[i], separateProcess);
        }

        return encoded;
    }

    /// <summary>Encodes a redacted copy of <paramref name="e"/>, its process included. Throws <see cref="ArgumentException"/> for event types the store does not keep.</summary>
    public static EncodedEvent Encode(ApplianceEvent e) => Encode(e, separateProcess: false);

    /// <summary>
    /// Encodes a redacted copy of <paramref name="e"/>; see <see cref="EncodeAll"/> for <paramref name="separateProcess"/>.
    /// Throws <see cref="ArgumentException"/> for event types the store does not keep.
    /// </summary>
    public static EncodedEvent Encode(ApplianceEvent e, bool separateProcess)
    {
        ArgumentNullException.ThrowIfNull(e);
        var r = Reporting.EventRedactor.Redact(e);
        var embed = !separateProcess;
        return r switch
        {
            NetworkEvent n => new EncodedEvent(
                EventKind.Network, n.Time, n.Kind, n.Host, n.Address, n.Port, DecisionText(n.Decision), n.Action, n.Method, n.Path,
                null, null, null, n.Process?.Pid, n.Step?.Action, Json(w => WriteNetwork(w, n, embed)))
            { SeparateProcess = embed ? null : n.Process },
            DetectionEvent d => new EncodedEvent(
                EventKind.Detection, d.Time, null, null, null, null, null, null, null, null,
                null, d.Type, d.Severity, d.Process?.Pid, d.Step?.Action, Json(w => WriteDetection(w, d, embed)))
            { SeparateProcess = embed ? null : d.Process },
            ProcessEvent p => new EncodedEvent(
                EventKind.Process, p.Time, null, null, null, null, null, null, null, null,
                null, null, null, p.Pid, p.Step?.Action, Json(w => WriteProcess(w, p))),
            FileEvent f => new EncodedEvent(
                EventKind.File, f.Time, null, null, null, null, null, null, null, f.Path,
                f.Operation, null, null, f.Process?.Pid, f.Step?.Action, Json(w => WriteFile(w, f, embed)))
            { SeparateProcess = embed ? null : f.Process },
            _ => throw new ArgumentException($"the store does not keep events of type {e.GetType().Name}", nameof(e)),
        };
    }

    /// <summary>A process object as JSON (DESIGN §5), the bytes embedded in events; encoded once per process object.</summary>
    public static byte[] ProcessJson(ProcessInfo p)
    {
        ArgumentNullException.ThrowIfNull(p);
        return EncodedProcesses.GetValue(p, EncodeProcessInfo);
    }

    /// <summary>Reads a process object written by <see cref="ProcessJson"/>. Throws <see cref="StoreException"/> for malformed data.</summary>
    public static ProcessInfo DecodeProcess(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                ? ReadProcess(doc.RootElement)
                : throw new FormatException("not a JSON object");
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new StoreException($"a stored process is malformed: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Rebuilds an event from its kind, time and JSON. <paramref name="process"/> is the event's process when the store
    /// keeps it apart from the JSON; otherwise the JSON's own process object is read. Throws <see cref="StoreException"/>
    /// for malformed data.
    /// </summary>
    public static ApplianceEvent Decode(EventKind kind, DateTimeOffset time, string data, DecodeCache? cache = null, ProcessInfo? process = null)
    {
        try
        {
            using var doc = JsonDocument.Parse(data);
            var o = doc.RootElement;
            return kind switch
            {
                EventKind.Network => new NetworkEvent(
                    time,
                    Req(o, "kind"),
                    Str(o, "host"),
                    Str(o, "address"),
                    o.GetProperty("port").GetInt32(),
                    Str(o, "decision") == "allow" ? Decision.Allow : Decision.Deny,
                    Req(o, "action"),
                    Str(o, "rule") ?? "",
                    Str(o, "method"),
                    Str(o, "path"),
                    Str(o, "queryType"))
                {
                    Process = process ?? ReadProcess(o, cache),
                    Step = ReadStep(o),
                    GitHub = GitHubCallCodec.Read(o),
                },
                EventKind.Detection => new DetectionEvent(time, Req(o, "type"), Req(o, "severity"), Str(o, "summary") ?? "", ReadEvidence(o))
                {
                    Process = process ?? ReadProcess(o, cache),
                    Step = ReadStep(o),
                },
                EventKind.Process => new ProcessEvent(
                    time,
                    o.GetProperty("pid").GetInt32(),
                    o.GetProperty("ppid").GetInt32(),
                    Str(o, "exe"),
                    Str(o, "cmdline"),
                    ParseTime(Req(o, "start")),
                    o.GetProperty("uid").GetInt32(),
                    o.GetProperty("euid").GetInt32(),
                    ReadStep(o)),
                EventKind.File => new FileEvent(time, Req(o, "path"), Req(o, "operation"), o.GetProperty("tracked").GetBoolean(), process ?? ReadProcess(o, cache), ReadStep(o)),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
            };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new StoreException($"a stored {EventKinds.Name(kind)} event is malformed: {ex.Message}", ex);
        }
    }

    /// <summary>Writes a process object (DESIGN §5) or null.</summary>
    public static void WriteProcessInfo(Utf8JsonWriter w, string name, ProcessInfo? p)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (p is null)
        {
            w.WriteNull(name);
            return;
        }

        // the same process object is written with every event of its connection or query burst: encoded once
        w.WritePropertyName(name);
        w.WriteRawValue(ProcessJson(p), skipInputValidation: true);
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ProcessInfo, byte[]> EncodedProcesses = [];

    private static byte[] EncodeProcessInfo(ProcessInfo p)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteNumber("pid", p.Pid);
            WriteNullable(w, "exe", p.Exe);
            WriteNullable(w, "cmdline", p.Cmdline);
            w.WriteStartArray("ancestors");
            foreach (var a in p.Ancestors)
            {
                w.WriteStartObject();
                w.WriteNumber("pid", a.Pid);
                WriteNullable(w, "exe", a.Exe);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (p.Container is { } c)
            {
                w.WriteStartObject("container");
                w.WriteString("runtime", c.Runtime);
                w.WriteString("id", c.Id);
                WriteNullable(w, "name", c.Name);
                WriteNullable(w, "podUid", c.PodUid);
                WriteNullable(w, "podNamespace", c.PodNamespace);
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        return buffer.WrittenMemory.ToArray();
    }

    /// <summary>Writes a step object (DESIGN §5) or null.</summary>
    public static void WriteStepInfo(Utf8JsonWriter w, string name, StepInfo? s)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (s is null)
        {
            w.WriteNull(name);
            return;
        }

        w.WriteStartObject(name);
        WriteNullable(w, "action", s.Action);
        WriteNullable(w, "uses", s.Uses);
        w.WriteEndObject();
    }

    public static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteNetwork(Utf8JsonWriter w, NetworkEvent n, bool embedProcess)
    {
        w.WriteString("kind", n.Kind);
        WriteNullable(w, "host", n.Host);
        WriteNullable(w, "address", n.Address);
        w.WriteNumber("port", n.Port);
        WriteNullable(w, "method", n.Method);
        WriteNullable(w, "path", n.Path);
        WriteNullable(w, "queryType", n.QueryType);
        w.WriteString("decision", DecisionText(n.Decision));
        w.WriteString("action", n.Action);
        w.WriteString("rule", n.Rule);
        if (embedProcess)
        {
            WriteProcessInfo(w, "process", n.Process);
        }

        WriteStepInfo(w, "step", n.Step);
        GitHubCallCodec.Write(w, n.GitHub);
    }

    private static void WriteDetection(Utf8JsonWriter w, DetectionEvent d, bool embedProcess)
    {
        w.WriteString("type", d.Type);
        w.WriteString("severity", d.Severity);
        w.WriteString("summary", d.Summary);
        w.WriteStartObject("evidence");
        foreach (var (k, v) in d.Evidence)
        {
            w.WriteString(k, v);
        }

        w.WriteEndObject();
        if (embedProcess)
        {
            WriteProcessInfo(w, "process", d.Process);
        }

        WriteStepInfo(w, "step", d.Step);
    }

    private static void WriteProcess(Utf8JsonWriter w, ProcessEvent p)
    {
        w.WriteNumber("pid", p.Pid);
        w.WriteNumber("ppid", p.Ppid);
        WriteNullable(w, "exe", p.Exe);
        WriteNullable(w, "cmdline", p.Cmdline);
        w.WriteString("start", FormatTime(p.Start));
        w.WriteNumber("uid", p.Uid);
        w.WriteNumber("euid", p.Euid);
        WriteStepInfo(w, "step", p.Step);
    }

    private static void WriteFile(Utf8JsonWriter w, FileEvent f, bool embedProcess)
    {
        w.WriteString("path", f.Path);
        w.WriteString("operation", f.Operation);
        w.WriteBoolean("tracked", f.Tracked);
        if (embedProcess)
        {
            WriteProcessInfo(w, "process", f.Process);
        }

        WriteStepInfo(w, "step", f.Step);
    }

    private static byte[] Json(Action<Utf8JsonWriter> body)
    {
        // one buffer and writer per thread, reused: encoding runs for every stored event
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        var w = t_writer ??= new Utf8JsonWriter(buffer);
        buffer.ResetWrittenCount();
        w.Reset(buffer);
        w.WriteStartObject();
        body(w);
        w.WriteEndObject();
        w.Flush();
        var json = buffer.WrittenSpan.ToArray();
        if (buffer.Capacity > 64 * 1024)
        {
            // do not keep a huge buffer alive after a huge event
            t_buffer = null;
            t_writer = null;
        }

        return json;
    }

    private static string Req(JsonElement o, string name) =>
        Str(o, name) ?? throw new FormatException($"'{name}' is missing");

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static ProcessInfo? ReadProcess(JsonElement o, DecodeCache? cache)
    {
        if (!o.TryGetProperty("process", out var p) || p.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return cache is null ? ReadProcess(p) : cache.Process(p.GetRawText(), p, ReadProcess);
    }

    private static ProcessInfo ReadProcess(JsonElement p)
    {
        var ancestors = new List<AncestorInfo>();
        if (p.TryGetProperty("ancestors", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in list.EnumerateArray())
            {
                ancestors.Add(new AncestorInfo(a.GetProperty("pid").GetInt32(), Str(a, "exe")));
            }
        }

        ContainerInfo? container = null;
        if (p.TryGetProperty("container", out var c) && c.ValueKind == JsonValueKind.Object)
        {
            container = new ContainerInfo(Req(c, "runtime"), Req(c, "id"), Str(c, "name"), Str(c, "podUid"), Str(c, "podNamespace"));
        }

        return new ProcessInfo(p.GetProperty("pid").GetInt32(), Str(p, "exe"), Str(p, "cmdline"), ancestors) { Container = container };
    }

    private static StepInfo? ReadStep(JsonElement o) =>
        o.TryGetProperty("step", out var s) && s.ValueKind == JsonValueKind.Object ? new StepInfo(Str(s, "action"), Str(s, "uses")) : null;

    private static Dictionary<string, string> ReadEvidence(JsonElement o)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (o.TryGetProperty("evidence", out var e) && e.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in e.EnumerateObject())
            {
                result[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }
        }

        return result;
    }
}
