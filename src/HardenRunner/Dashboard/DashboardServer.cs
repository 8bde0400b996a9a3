using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Reporting;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace HardenRunner.Dashboard;

/// <summary>One run as the runs list shows it: the run and its blocked, detection and event counts.</summary>
public sealed record RunListEntry(RunInfo Run, long Blocked, long Detections, long Events);

/// <summary>
/// <c>harden-runner dashboard</c>: a small web UI over the store (any <see cref="IEventStore"/>). Pages: <c>/</c>
/// (runs, with filters by repository, workflow, job, runner and mode), <c>/runs/ID</c> (the run's HTML report, the same
/// renderer as <c>report --format html</c>), and the organisation views <c>/destinations</c> (every destination with
/// the jobs that use it) and <c>/detections</c> (every detection across runs). JSON API: <c>/api/runs</c>,
/// <c>/api/runs/ID</c> (the JSON report), <c>/api/runs/ID/events?kind=network|file|process|detection</c>,
/// <c>/api/destinations</c>, <c>/api/detections</c>. With <see cref="DashboardOptions.Access"/> each request's user
/// (from the trusted proxy header) sees only the runs of their repositories, everywhere; another user's run is a 404.
/// Read-only (GET and HEAD only). Requests whose
/// <c>Host</c> is not a loopback or bound address are refused, so a web page cannot reach a loopback dashboard
/// through DNS rebinding. Every page carries the report's Content-Security-Policy.
/// </summary>
public sealed class DashboardServer : IAsyncDisposable
{
    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = JavaScriptEncoder.Default };

    private readonly IEventStore _store;
    private readonly DashboardOptions _options;
    private readonly ConcurrentDictionary<string, RunListEntry> _endedRuns = new(StringComparer.Ordinal);
    private WebApplication? _app;

    private DashboardServer(IEventStore store, DashboardOptions options)
    {
        _store = store;
        _options = options;
    }

    /// <summary>The URLs the dashboard listens on (actual ports when 0 was asked).</summary>
    public IReadOnlyList<string> Urls { get; private set; } = [];

    /// <summary>Starts listening. Throws <see cref="ArgumentException"/> for bad URLs, <see cref="IOException"/> when a port is taken.</summary>
    public static async Task<DashboardServer> StartAsync(IEventStore store, DashboardOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var (endpoints, error) = DashboardOptions.ParseUrls(options.Urls);
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(options));
        }

        if (options.AccessError() is { } accessError)
        {
            throw new ArgumentException(accessError, nameof(options));
        }

        var server = new DashboardServer(store, options);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = "HardenRunner.Dashboard",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            foreach (var endpoint in endpoints)
            {
                k.Listen(endpoint);
            }
        });
        var app = builder.Build();
        app.Run(server.HandleAsync);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        server._app = app;
        server.Urls = [.. app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];
        return server;
    }

    /// <summary>Runs matching the filter with their counts (ended runs' counts are cached; a running run is counted afresh).</summary>
    public async Task<IReadOnlyList<RunListEntry>> ListAsync(RunFilter filter, string? mode, CancellationToken cancellationToken, string? user = null)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var runs = await VisibleRunsAsync(filter, user, cancellationToken).ConfigureAwait(false);
        var result = new List<RunListEntry>(runs.Count);
        foreach (var run in runs)
        {
            if (mode is { Length: > 0 } && !string.Equals(SqliteEventStore.ModeText(run.Mode), mode, StringComparison.Ordinal))
            {
                continue;
            }

            if (run.EndedAt is not null && _endedRuns.TryGetValue(run.Id, out var cached))
            {
                result.Add(cached);
                continue;
            }

            long blocked = 0;
            await foreach (var e in _store.ReadEventsAsync(run.Id, EventKind.Network, cancellationToken).ConfigureAwait(false))
            {
                if (e.Event is NetworkEvent { Action: NetworkEvent.Blocked })
                {
                    blocked++;
                }
            }

            var entry = new RunListEntry(
                run,
                blocked,
                await _store.CountEventsAsync(run.Id, EventKind.Detection, cancellationToken).ConfigureAwait(false),
                await _store.CountEventsAsync(run.Id, null, cancellationToken).ConfigureAwait(false));
            if (run.EndedAt is not null)
            {
                _endedRuns[run.Id] = entry;
            }

            result.Add(entry);
        }

        return result;
    }

    /// <summary>
    /// Runs matching the filter that <paramref name="user"/> may see (null: no access mapping, every run). With a
    /// mapping, the store is asked without a limit and the limit applies to the visible runs.
    /// </summary>
    public async Task<IReadOnlyList<RunInfo>> VisibleRunsAsync(RunFilter filter, string? user, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(filter);
        if (user is null || _options.Access is not { } access)
        {
            return await _store.ListRunsAsync(filter, cancellationToken).ConfigureAwait(false);
        }

        if (filter.Repository is { } repo && !access.Allows(user, repo))
        {
            return [];
        }

        var all = await _store.ListRunsAsync(filter with { Limit = null }, cancellationToken).ConfigureAwait(false);
        return [.. all.Where(r => access.Allows(user, r)).Take(filter.Limit ?? int.MaxValue)];
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await app.StopAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            await app.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task HandleAsync(HttpContext http)
    {
        var response = http.Response;
        response.Headers.ContentSecurityPolicy = HtmlAssets.ContentSecurityPolicyHeader;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.XFrameOptions = "DENY";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.CacheControl = "no-store";

        if (!HostAllowed(http.Request.Host, http.Connection.LocalIpAddress))
        {
            await Text(http, 421, "text/plain", "misdirected request: this dashboard answers only to its own address\n").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
        {
            response.Headers.Allow = "GET, HEAD";
            await Text(http, 405, "text/plain", "the dashboard is read-only\n").ConfigureAwait(false);
            return;
        }

        string? user = null;
        if (_options.Access is { } access && _options.AuthHeader is { } header)
        {
            var values = http.Request.Headers[header];
            if (values.Count != 1 || string.IsNullOrWhiteSpace(values[0]))
            {
                await Text(http, 401, "text/plain", $"not authenticated: the dashboard expects the user in the {header} header from its reverse proxy\n").ConfigureAwait(false);
                return;
            }

            user = values[0]!.Trim();
            if (!access.Knows(user))
            {
                await Text(http, 403, "text/plain", "this user has no access to the dashboard\n").ConfigureAwait(false);
                return;
            }
        }

        var ct = http.RequestAborted;
        var path = http.Request.Path.Value ?? "/";
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(Uri.UnescapeDataString).ToArray();
        try
        {
            switch (segments)
            {
                case []:
                    await RunsPageAsync(http, user, ct).ConfigureAwait(false);
                    break;
                case ["runs", var id]:
                    await RunPageAsync(http, id, user, ct).ConfigureAwait(false);
                    break;
                case ["destinations"]:
                    await DestinationsAsync(http, user, api: false, ct).ConfigureAwait(false);
                    break;
                case ["detections"]:
                    await DetectionsAsync(http, user, api: false, ct).ConfigureAwait(false);
                    break;
                case ["api", "runs"]:
                    await RunsApiAsync(http, user, ct).ConfigureAwait(false);
                    break;
                case ["api", "runs", var id]:
                    await RunApiAsync(http, id, user, ct).ConfigureAwait(false);
                    break;
                case ["api", "runs", var id, "events"]:
                    await EventsApiAsync(http, id, user, ct).ConfigureAwait(false);
                    break;
                case ["api", "destinations"]:
                    await DestinationsAsync(http, user, api: true, ct).ConfigureAwait(false);
                    break;
                case ["api", "detections"]:
                    await DetectionsAsync(http, user, api: true, ct).ConfigureAwait(false);
                    break;
                default:
                    await NotFoundAsync(http, "no such page").ConfigureAwait(false);
                    break;
            }
        }
        catch (StoreException ex)
        {
            await Text(http, 500, "text/plain", $"the store could not be read: {ex.Message}\n").ConfigureAwait(false);
        }
    }

    private bool HostAllowed(HostString host, IPAddress? local)
    {
        if (!host.HasValue)
        {
            return false;
        }

        var name = host.Host.Trim('[', ']');
        if (string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (!IPAddress.TryParse(name, out var ip))
        {
            return false; // a name: the way DNS rebinding reaches a loopback server
        }

        return IPAddress.IsLoopback(ip) || (local is not null && (ip.Equals(local) || (local.IsIPv4MappedToIPv6 && ip.Equals(local.MapToIPv4()))));
    }

    private async Task RunsPageAsync(HttpContext http, string? user, CancellationToken ct)
    {
        var q = http.Request.Query;
        var filter = Filter(http);
        var mode = Query(q, "mode");
        var runs = await ListAsync(filter, mode, ct, user).ConfigureAwait(false);
        var all = await VisibleRunsAsync(new RunFilter { Limit = 1000 }, user, ct).ConfigureAwait(false);
        await Text(http, 200, "text/html; charset=utf-8", DashboardPages.RunsPage(runs, all, filter, mode, user)).ConfigureAwait(false);
    }

    /// <summary>The run, when it exists and <paramref name="user"/> may see it; else null (the same 404 either way, so ids of other repositories' runs are not confirmed).</summary>
    private async Task<RunInfo?> VisibleRunAsync(string id, string? user, CancellationToken ct)
    {
        var run = await _store.GetRunAsync(id, ct).ConfigureAwait(false);
        return run is not null && (user is null || _options.Access is not { } access || access.Allows(user, run)) ? run : null;
    }

    private async Task DestinationsAsync(HttpContext http, string? user, bool api, CancellationToken ct)
    {
        var filter = Filter(http);
        var runs = await VisibleRunsAsync(filter, user, ct).ConfigureAwait(false);
        var destinations = await FleetViews.DestinationsAsync(_store, runs, ct).ConfigureAwait(false);
        if (!api)
        {
            var all = await VisibleRunsAsync(new RunFilter { Limit = 1000 }, user, ct).ConfigureAwait(false);
            await Text(http, 200, "text/html; charset=utf-8", DashboardPages.DestinationsPage(destinations, all, filter, runs.Count, user)).ConfigureAwait(false);
            return;
        }

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("runs", runs.Count);
            w.WriteStartArray("destinations");
            foreach (var d in destinations)
            {
                w.WriteStartObject();
                w.WriteString("destination", d.Destination);
                w.WriteStartArray("jobs");
                foreach (var j in d.Jobs)
                {
                    w.WriteStartObject();
                    EventCodec.WriteNullable(w, "repository", j.Repository);
                    EventCodec.WriteNullable(w, "workflow", j.Workflow);
                    EventCodec.WriteNullable(w, "job", j.Job);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteStartArray("runners");
                foreach (var r in d.Runners)
                {
                    w.WriteStringValue(r);
                }

                w.WriteEndArray();
                w.WriteNumber("runs", d.Runs);
                w.WriteNumber("passed", d.Passed);
                w.WriteNumber("blocked", d.Blocked);
                w.WriteString("lastSeen", EventCodec.FormatTime(d.LastSeen));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        await Bytes(http, 200, "application/json", buffer).ConfigureAwait(false);
    }

    private async Task DetectionsAsync(HttpContext http, string? user, bool api, CancellationToken ct)
    {
        var filter = Filter(http);
        var runs = await VisibleRunsAsync(filter, user, ct).ConfigureAwait(false);
        var detections = await FleetViews.DetectionsAsync(_store, runs, ct).ConfigureAwait(false);
        if (!api)
        {
            var all = await VisibleRunsAsync(new RunFilter { Limit = 1000 }, user, ct).ConfigureAwait(false);
            await Text(http, 200, "text/html; charset=utf-8", DashboardPages.DetectionsPage(detections, all, filter, runs.Count, user)).ConfigureAwait(false);
            return;
        }

        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("runs", runs.Count);
            w.WriteStartArray("detections");
            foreach (var d in detections)
            {
                w.WriteStartObject();
                w.WriteString("runId", d.Run.Id);
                EventCodec.WriteNullable(w, "repository", d.Run.Repository);
                EventCodec.WriteNullable(w, "workflow", d.Run.Workflow);
                EventCodec.WriteNullable(w, "job", d.Run.Job);
                EventCodec.WriteNullable(w, "runner", d.Run.HostName);
                w.WriteString("time", EventCodec.FormatTime(d.Detection.Time));
                w.WriteString("type", d.Detection.Type);
                w.WriteString("severity", d.Detection.Severity);
                w.WriteString("summary", d.Detection.Summary);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        await Bytes(http, 200, "application/json", buffer).ConfigureAwait(false);
    }

    private async Task RunPageAsync(HttpContext http, string id, string? user, CancellationToken ct)
    {
        if (await VisibleRunAsync(id, user, ct).ConfigureAwait(false) is not { } run)
        {
            await NotFoundAsync(http, $"no run '{id}'").ConfigureAwait(false);
            return;
        }

        var report = await RunReportLoader.LoadAsync(_store, run, ct).ConfigureAwait(false);
        await Text(http, 200, "text/html; charset=utf-8", HtmlReport.Render(report, new HtmlReportOptions { BackLink = "/" })).ConfigureAwait(false);
    }

    private async Task RunsApiAsync(HttpContext http, string? user, CancellationToken ct)
    {
        var runs = await ListAsync(Filter(http), Query(http.Request.Query, "mode"), ct, user).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonOptions))
        {
            w.WriteStartArray();
            foreach (var e in runs)
            {
                w.WriteStartObject();
                w.WriteString("id", e.Run.Id);
                w.WriteString("startedAt", EventCodec.FormatTime(e.Run.StartedAt));
                if (e.Run.EndedAt is { } ended)
                {
                    w.WriteString("endedAt", EventCodec.FormatTime(ended));
                }
                else
                {
                    w.WriteNull("endedAt");
                }

                w.WriteString("egressPolicy", SqliteEventStore.ModeText(e.Run.Mode));
                EventCodec.WriteNullable(w, "repository", e.Run.Repository);
                EventCodec.WriteNullable(w, "workflow", e.Run.Workflow);
                EventCodec.WriteNullable(w, "job", e.Run.Job);
                EventCodec.WriteNullable(w, "runId", e.Run.GitHubRunId);
                EventCodec.WriteNullable(w, "runner", e.Run.HostName);
                w.WriteNumber("blocked", e.Blocked);
                w.WriteNumber("detections", e.Detections);
                w.WriteNumber("events", e.Events);
                w.WriteNumber("eventsLost", e.Run.EventsLost);
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        await Bytes(http, 200, "application/json", buffer).ConfigureAwait(false);
    }

    private async Task RunApiAsync(HttpContext http, string id, string? user, CancellationToken ct)
    {
        if (await VisibleRunAsync(id, user, ct).ConfigureAwait(false) is not { } run)
        {
            await NotFoundAsync(http, $"no run '{id}'").ConfigureAwait(false);
            return;
        }

        using var buffer = new MemoryStream();
        await JsonReportBuilder.WriteAsync(_store, run, buffer, ct).ConfigureAwait(false);
        await Bytes(http, 200, "application/json", buffer).ConfigureAwait(false);
    }

    private async Task EventsApiAsync(HttpContext http, string id, string? user, CancellationToken ct)
    {
        if (await VisibleRunAsync(id, user, ct).ConfigureAwait(false) is not { } run)
        {
            await NotFoundAsync(http, $"no run '{id}'").ConfigureAwait(false);
            return;
        }

        var kind = Query(http.Request.Query, "kind") ?? "network";
        var report = await RunReportLoader.LoadAsync(_store, run, ct).ConfigureAwait(false);
        var ctx = ReportModelJsonContext.Default;
        string? json = kind switch
        {
            "network" => JsonSerializer.Serialize(report.Network, ctx.IReadOnlyListReportNetwork),
            "file" => JsonSerializer.Serialize(report.Files, ctx.IReadOnlyListReportFile),
            "process" => JsonSerializer.Serialize(report.Processes, ctx.IReadOnlyListReportProcess),
            "detection" => JsonSerializer.Serialize(report.Detections, ctx.IReadOnlyListReportDetection),
            _ => null,
        };
        if (json is null)
        {
            await Text(http, 400, "application/json", ErrorJson("kind must be one of network, file, process, detection")).ConfigureAwait(false);
            return;
        }

        await Text(http, 200, "application/json", json).ConfigureAwait(false);
    }

    private RunFilter Filter(HttpContext http)
    {
        var q = http.Request.Query;
        var limit = int.TryParse(Query(q, "limit"), NumberStyles.None, CultureInfo.InvariantCulture, out var l) && l > 0 ? Math.Min(l, 10_000) : _options.DefaultRunLimit;
        return new RunFilter { Repository = Query(q, "repository"), Workflow = Query(q, "workflow"), Job = Query(q, "job"), HostName = Query(q, "runner"), Limit = limit };
    }

    private static string? Query(IQueryCollection q, string name) => q.TryGetValue(name, out var v) && v.Count > 0 && !string.IsNullOrEmpty(v[0]) ? v[0] : null;

    private static Task NotFoundAsync(HttpContext http, string message) =>
        http.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal)
            ? Text(http, 404, "application/json", ErrorJson(message))
            : Text(http, 404, "text/html; charset=utf-8", DashboardPages.NotFoundPage(message));

    private static string ErrorJson(string message)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, JsonOptions))
        {
            w.WriteStartObject();
            w.WriteString("error", message);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static Task Text(HttpContext http, int status, string contentType, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        return Bytes(http, status, contentType, new MemoryStream(bytes, writable: false));
    }

    private static async Task Bytes(HttpContext http, int status, string contentType, MemoryStream body)
    {
        http.Response.StatusCode = status;
        http.Response.ContentType = contentType;
        http.Response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(http.Request.Method))
        {
            body.Position = 0;
            await body.CopyToAsync(http.Response.Body, http.RequestAborted).ConfigureAwait(false);
        }
    }
}
