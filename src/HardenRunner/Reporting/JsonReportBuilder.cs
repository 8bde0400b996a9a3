using System.Text.Encodings.Web;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Insights;
using HardenRunner.Insights.Permissions;
using HardenRunner.Store;

namespace HardenRunner.Reporting;

/// <summary>
/// Renders one run from the store as the JSON report of DESIGN §5 (schema: docs/report.schema.json): run, network,
/// files, processes, detections, recommendedPolicy, tokenPermissions. Events are streamed from the store in the order
/// they were recorded, so a large run does not need to fit in memory. Every string passes through
/// <see cref="SecretRedactor"/> (the store has redacted them already; this is the second line).
/// </summary>
public static class JsonReportBuilder
{
    public const int SchemaVersion = 1;

    private const int FlushThreshold = 64 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Writes the report of <paramref name="run"/> to <paramref name="output"/> (UTF-8, no BOM). With
    /// <paramref name="maxEventsPerSection"/>, each event list holds at most that many (the first ones): what the views
    /// are rendered from (<see cref="Views.RunReportLoader"/>); report.json itself is always complete.
    /// </summary>
    public static async Task WriteAsync(IEventStore store, RunInfo run, Stream output, CancellationToken cancellationToken = default, InsightsOptions? insightsOptions = null, int maxEventsPerSection = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxEventsPerSection, 1);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(output);

        // the recommendations read the job's runs (this one and earlier ones) on their own pass over the store
        var insights = await RunInsights.BuildAsync(store, run, insightsOptions, cancellationToken).ConfigureAwait(false);
        await using var w = new Utf8JsonWriter(output, WriterOptions);
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", SchemaVersion);
        WriteRun(w, run);

        w.WriteStartArray("network");
        var networkWritten = 0;
        await foreach (var stored in store.ReadEventsAsync(run.Id, EventKind.Network, cancellationToken).ConfigureAwait(false))
        {
            if (networkWritten++ == maxEventsPerSection)
            {
                break;
            }

            var n = (NetworkEvent)stored.Event;
            WriteNetwork(w, n);
            await FlushIfFullAsync(w, cancellationToken).ConfigureAwait(false);
        }

        w.WriteEndArray();

        w.WriteStartArray("files");
        var fileWritten = 0;
        await foreach (var stored in store.ReadEventsAsync(run.Id, EventKind.File, cancellationToken).ConfigureAwait(false))
        {
            if (fileWritten++ == maxEventsPerSection)
            {
                break;
            }

            WriteFile(w, (FileEvent)stored.Event);
            await FlushIfFullAsync(w, cancellationToken).ConfigureAwait(false);
        }

        w.WriteEndArray();

        w.WriteStartArray("processes");
        var processWritten = 0;
        await foreach (var stored in store.ReadEventsAsync(run.Id, EventKind.Process, cancellationToken).ConfigureAwait(false))
        {
            if (processWritten++ == maxEventsPerSection)
            {
                break;
            }

            WriteProcess(w, (ProcessEvent)stored.Event);
            await FlushIfFullAsync(w, cancellationToken).ConfigureAwait(false);
        }

        w.WriteEndArray();

        w.WriteStartArray("detections");
        var detectionWritten = 0;
        await foreach (var stored in store.ReadEventsAsync(run.Id, EventKind.Detection, cancellationToken).ConfigureAwait(false))
        {
            if (detectionWritten++ == maxEventsPerSection)
            {
                break;
            }

            WriteDetection(w, (DetectionEvent)stored.Event);
            await FlushIfFullAsync(w, cancellationToken).ConfigureAwait(false);
        }

        w.WriteEndArray();

        w.WriteString("recommendedPolicy", insights.RecommendedPolicy);
        WriteTokenPermissions(w, insights.TokenPermissions);
        w.WriteEndObject();
        await w.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The report of <paramref name="run"/> as a string.</summary>
    public static async Task<string> BuildAsync(IEventStore store, RunInfo run, CancellationToken cancellationToken = default)
    {
        using var buffer = new MemoryStream();
        await WriteAsync(store, run, buffer, cancellationToken).ConfigureAwait(false);
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteTokenPermissions(Utf8JsonWriter w, TokenPermissionsResult tokens)
    {
        w.WriteStartObject("tokenPermissions");
        foreach (var (scope, level) in tokens.Permissions)
        {
            w.WriteString(scope, level);
        }

        w.WriteEndObject();

        // DESIGN §5 keeps tokenPermissions a plain map; why each line is there, and the YAML block, come beside it
        w.WriteStartObject("tokenPermissionsDetail");
        w.WriteString("yaml", tokens.ToYaml());
        w.WriteNumber("tokenCalls", tokens.TokenCalls);
        w.WriteStartArray("evidence");
        foreach (var e in tokens.Evidence)
        {
            w.WriteStartObject();
            w.WriteString("scope", e.Scope);
            w.WriteString("level", e.Level);
            Str(w, "call", e.Call);
            Str(w, "basis", e.Basis);
            w.WriteString("source", e.Source);
            w.WriteNumber("count", e.Count);
            w.WriteStartArray("steps");
            foreach (var step in e.Steps)
            {
                w.WriteStringValue(SecretRedactor.Redact(step));
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteStartArray("findings");
        foreach (var f in tokens.Findings)
        {
            w.WriteStartObject();
            w.WriteString("outcome", f.Outcome switch
            {
                MatchOutcome.NotGrantable => "not-grantable",
                MatchOutcome.CrossRepository => "cross-repository",
                _ => "unknown",
            });
            Str(w, "call", f.Call);
            Str(w, "basis", f.Basis);
            w.WriteNumber("count", f.Count);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteRun(Utf8JsonWriter w, RunInfo run)
    {
        w.WriteStartObject("run");
        Str(w, "id", run.Id);
        w.WriteString("startedAt", Time(run.StartedAt));
        if (run.EndedAt is { } ended)
        {
            w.WriteString("endedAt", Time(ended));
        }
        else
        {
            w.WriteNull("endedAt");
        }

        w.WriteString("egressPolicy", SqliteEventStore.ModeText(run.Mode));
        Str(w, "repository", run.Repository);
        Str(w, "workflow", run.Workflow);
        Str(w, "job", run.Job);
        Str(w, "runId", run.GitHubRunId);
        w.WriteEndObject();
    }

    private static void WriteNetwork(Utf8JsonWriter w, NetworkEvent n)
    {
        w.WriteStartObject();
        w.WriteString("time", Time(n.Time));
        w.WriteString("kind", n.Kind);
        Str(w, "host", n.Host);
        Str(w, "address", n.Address);
        w.WriteNumber("port", n.Port);
        Str(w, "method", n.Method);
        Str(w, "path", n.Path);
        w.WriteString("decision", EventCodec.DecisionText(n.Decision));
        w.WriteString("action", n.Action);
        Str(w, "rule", n.Rule);
        WriteProcessInfo(w, n.Process);
        WriteStep(w, n.Step);
        w.WriteEndObject();
    }

    private static void WriteFile(Utf8JsonWriter w, FileEvent f)
    {
        w.WriteStartObject();
        w.WriteString("time", Time(f.Time));
        Str(w, "path", f.Path);
        w.WriteString("operation", f.Operation);
        w.WriteBoolean("tracked", f.Tracked);
        WriteProcessInfo(w, f.Process);
        WriteStep(w, f.Step);
        w.WriteEndObject();
    }

    private static void WriteProcess(Utf8JsonWriter w, ProcessEvent p)
    {
        w.WriteStartObject();
        w.WriteNumber("pid", p.Pid);
        w.WriteNumber("ppid", p.Ppid);
        Str(w, "exe", p.Exe);
        Str(w, "cmdline", p.Cmdline);
        w.WriteString("start", Time(p.Start));
        WriteStep(w, p.Step);
        w.WriteEndObject();
    }

    private static void WriteDetection(Utf8JsonWriter w, DetectionEvent d)
    {
        w.WriteStartObject();
        Str(w, "type", d.Type);
        w.WriteString("severity", d.Severity);
        Str(w, "summary", d.Summary);
        WriteProcessInfo(w, d.Process);
        WriteStep(w, d.Step);
        w.WriteStartObject("evidence");
        foreach (var (k, v) in EventRedactor.RedactEvidence(d.Evidence))
        {
            w.WriteString(k, v);
        }

        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteProcessInfo(Utf8JsonWriter w, ProcessInfo? p) => EventCodec.WriteProcessInfo(w, "process", EventRedactor.Redact(p));

    private static void WriteStep(Utf8JsonWriter w, StepInfo? s) => EventCodec.WriteStepInfo(w, "step", EventRedactor.Redact(s));

    private static void Str(Utf8JsonWriter w, string name, string? value) => EventCodec.WriteNullable(w, name, SecretRedactor.RedactOrNull(value));

    private static string Time(DateTimeOffset t) => EventCodec.FormatTime(t);

    private static async ValueTask FlushIfFullAsync(Utf8JsonWriter w, CancellationToken cancellationToken)
    {
        if (w.BytesPending > FlushThreshold)
        {
            await w.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
