using HardenRunner.Store;

namespace HardenRunner.Reporting;

/// <summary>What <c>harden-runner report</c> was asked for; <paramref name="Store"/> is <c>--store</c> / <c>$HARDEN_RUNNER_STORE</c> (null: the local file);
/// <paramref name="Live"/>: the run that is going on now, asked from the running appliance (<see cref="LiveReport"/>).</summary>
public sealed record ReportRequest(string StateDir, string? RunId, string Format, string? OutputPath, string? Store = null, bool Live = false);

/// <summary>
/// <c>harden-runner report [--run ID] --format json|markdown|html|sarif [-o FILE] [--state-dir DIR]</c>: renders a run
/// (default: the latest) from the store under the state directory (the views are in <c>Reporting/Views</c>). Exit
/// codes follow DESIGN §3: 0 success; 2 bad input (an unknown format or run id); 1 anything else (no store, an
/// unreadable store, a file that cannot be written).
/// </summary>
public static class ReportRunner
{
    public const string JsonFormat = "json";
    public const string MarkdownFormat = "markdown";
    public const string HtmlFormat = "html";
    public const string SarifFormat = "sarif";

    public static readonly string[] Formats = [JsonFormat, MarkdownFormat, HtmlFormat, SarifFormat];

    public static async Task<int> RunAsync(ReportRequest request, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (!Formats.Contains(request.Format, StringComparer.Ordinal))
        {
            stderr.WriteLine($"error: --format {request.Format} is not supported: use one of {string.Join(", ", Formats)}");
            return 2;
        }

        if (request.Live)
        {
            return await LiveAsync(request, stdout, stderr, cancellationToken).ConfigureAwait(false);
        }

        Store.Postgres.PostgresStoreUri? remote;
        try
        {
            remote = StoreSelection.Parse(request.Store);
        }
        catch (FormatException ex)
        {
            stderr.WriteLine($"error: --store: {ex.Message}");
            return 2;
        }

        var dbPath = remote?.Display ?? SqliteEventStore.PathIn(request.StateDir);
        if (remote is null && !File.Exists(dbPath))
        {
            stderr.WriteLine($"error: no store at {dbPath}: no run was recorded with state directory {request.StateDir}");
            return 1;
        }

        try
        {
            await using IEventStore store = remote is null
                ? SqliteEventStore.Open(dbPath)
                : await Store.Postgres.PostgresEventStore.OpenAsync(remote, cancellationToken).ConfigureAwait(false);
            RunInfo? run;
            if (request.RunId is { } id)
            {
                run = await store.GetRunAsync(id, cancellationToken).ConfigureAwait(false);
                if (run is null)
                {
                    var recent = await store.ListRunsAsync(new RunFilter { Limit = 5 }, cancellationToken).ConfigureAwait(false);
                    stderr.WriteLine($"error: no run '{id}' in {dbPath}" + (recent.Count == 0
                        ? " (it has no runs)"
                        : $"; the latest: {string.Join(", ", recent.Select(r => r.Id))}"));
                    return 2;
                }
            }
            else
            {
                run = (await store.ListRunsAsync(new RunFilter { Limit = 1 }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
                if (run is null)
                {
                    stderr.WriteLine($"error: the store {dbPath} has no runs");
                    return 1;
                }
            }

            if (request.Format != JsonFormat)
            {
                var links = request.RunId is null ? Views.ReportViews.LinksIn(request.StateDir, run.Id, Environment.GetEnvironmentVariable) : Views.ReportViews.LinksIn(null, run.Id, Environment.GetEnvironmentVariable);
                var text = await Views.ReportViews.RenderAsync(store, run, request.Format, links, cancellationToken).ConfigureAwait(false);
                await WriteTextAsync(request.OutputPath, text, stdout, cancellationToken).ConfigureAwait(false);
            }
            else if (request.OutputPath is { } output)
            {
                await PrivateFile.WriteAtomicallyAsync(output, s => JsonReportBuilder.WriteAsync(store, run, s, cancellationToken), cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await stdout.WriteLineAsync(await JsonReportBuilder.BuildAsync(store, run, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
                await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
            }

            return 0;
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return 1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: cannot write {request.OutputPath}: {ex.Message}");
            return 1;
        }
    }

    /// <summary><c>report --live</c>: the running appliance renders its run so far (control socket command <c>report FORMAT</c>).</summary>
    private static async Task<int> LiveAsync(ReportRequest request, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (request.RunId is not null || request.Store is not null)
        {
            stderr.WriteLine("error: --live renders the run that is going on now, from the running appliance; leave out --run and --store");
            return 2;
        }

        var reply = await Control.ControlClient.SendAsync(request.StateDir, LiveReport.Command(request.Format), TimeSpan.FromSeconds(120), cancellationToken).ConfigureAwait(false);
        if (reply is null)
        {
            stderr.WriteLine($"error: no running appliance answered at {Path.Combine(request.StateDir, Control.ControlClient.SocketFileName)} (none is running with this state directory, or its control socket is root-only: started without a stop token, ask with sudo)");
            return 1;
        }

        string? text;
        string? error;
        try
        {
            using var answer = System.Text.Json.JsonDocument.Parse(reply);
            text = answer.RootElement.TryGetProperty("report", out var r) ? r.GetString() : null;
            error = answer.RootElement.TryGetProperty("error", out var e) ? e.GetString() : null;
        }
        catch (System.Text.Json.JsonException)
        {
            text = null;
            error = "the appliance's answer could not be read";
        }

        if (text is null)
        {
            stderr.WriteLine($"error: {error ?? "the appliance sent no report"}");
            return 1;
        }

        try
        {
            await WriteTextAsync(request.OutputPath, text, stdout, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"error: cannot write {request.OutputPath}: {ex.Message}");
            return 1;
        }

        return 0;
    }

    private static async Task WriteTextAsync(string? path, string text, TextWriter stdout, CancellationToken cancellationToken)
    {
        if (path is not null)
        {
            await PrivateFile.WriteAtomicallyAsync(path, s => s.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken).AsTask(), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await stdout.WriteAsync(text).ConfigureAwait(false);
            await stdout.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
