using System.Text.Json;
using HardenRunner.Control;
using HardenRunner.Store;

namespace HardenRunner.Reporting;

/// <summary>
/// The report of the run that is still going, for the control socket's <c>report FORMAT</c> command
/// (<c>harden-runner report --live</c>): what was recorded up to the request, rendered like <c>report</c> renders a
/// finished run (the detections that only the stop adds, such as the baseline's, are not in it yet). A job step
/// without sudo can keep the HTML report this way (the post step that writes the final one runs after every step);
/// one report is rendered at a time. Any caller that may reach the socket may ask: root, or with a stop token
/// (the GitHub Action) every local user — the report is the job's own record, with secrets redacted.
/// </summary>
public sealed class LiveReport(IEventStore store, StoreEventSink stored, string runId, string stateDir, Func<string, string?> env)
{
    /// <summary>How long the report waits for the events published before the request to be stored.</summary>
    public static readonly TimeSpan FlushWait = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>Whether a control command asks for a live report.</summary>
    public static bool IsReport(string command) =>
        command == "report" || command.StartsWith("report ", StringComparison.Ordinal);

    /// <summary>The control command for <paramref name="format"/>.</summary>
    public static string Command(string format) => "report " + format;

    /// <summary>Answers one <c>report [FORMAT]</c> command: JSON with <c>run</c>, <c>format</c> and <c>report</c>, or with <c>error</c>.</summary>
    public async Task<string> AnswerAsync(string command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        var format = command.Length > "report".Length ? command["report".Length..].Trim() : ReportRunner.HtmlFormat;
        if (!ReportRunner.Formats.Contains(format, StringComparer.Ordinal))
        {
            return Error($"unknown report format '{format}': use one of {string.Join(", ", ReportRunner.Formats)}");
        }

        if (!await _one.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false))
        {
            return Error("another live report is being rendered; try again");
        }

        try
        {
            // the events published before this request go to the store first (bounded: a store that cannot keep up
            // still answers, with what it has)
            var published = stored.Accepted;
            var deadline = DateTime.UtcNow + FlushWait;
            while (stored.Acknowledged < published && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
            }

            var run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false);
            if (run is null)
            {
                return Error($"the run '{runId}' is not in the store");
            }

            var text = format == ReportRunner.JsonFormat
                ? await JsonReportBuilder.BuildAsync(store, run, cancellationToken).ConfigureAwait(false)
                : await Views.ReportViews.RenderAsync(store, run, format, Views.ReportViews.LinksIn(stateDir, runId, env), cancellationToken).ConfigureAwait(false);
            return JsonSerializer.Serialize(new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["run"] = runId,
                ["format"] = format,
                ["report"] = text,
            }, ControlJson.Default.DictionaryStringString);
        }
        catch (StoreException ex)
        {
            return Error(ex.Message);
        }
        finally
        {
            _one.Release();
        }
    }

    private static string Error(string message) =>
        JsonSerializer.Serialize(new Dictionary<string, string>(StringComparer.Ordinal) { ["error"] = message }, ControlJson.Default.DictionaryStringString);
}
