using System.Security.Cryptography;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;

namespace HardenRunner.Cli.Commands;

/// <summary>What <c>harden-runner stop</c> prints besides the summary: detection annotations and where the report is.</summary>
internal static class StopOutput
{
    /// <summary>
    /// Prints recorded text (host names, paths) to the step's log. Under GitHub Actions it is wrapped in
    /// <c>::stop-commands::TOKEN</c> … <c>::TOKEN::</c> so that no line of it is taken as a workflow command.
    /// </summary>
    public static void WriteUntrusted(TextWriter stdout, string text, Func<string, string?> env)
    {
        var guard = ActionsAnnotations.InGitHubActions(env);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        if (guard)
        {
            stdout.WriteLine($"::stop-commands::{token}");
        }

        stdout.Write(text);
        if (!text.EndsWith('\n'))
        {
            stdout.WriteLine();
        }

        if (guard)
        {
            stdout.WriteLine($"::{token}::");
        }
    }

    /// <summary>Annotations for the latest run's detections (under GitHub Actions) and the "View security insights …" line.</summary>
    public static async Task WriteNoticesAsync(TextWriter stdout, TextWriter stderr, string stateDir, Func<string, string?> env, CancellationToken ct)
    {
        try
        {
            // written by the appliance at stop (readable by a non-root caller that holds the stop token); a state
            // directory from before it existed: from the store
            var notices = Path.Combine(stateDir, ReportViews.NoticesFileName);
            var lines = File.Exists(notices)
                ? ReportViews.NoticesToPrint(await File.ReadAllLinesAsync(notices, ct).ConfigureAwait(false), env)
                : await ReportViews.StopNoticesAsync(stateDir, env, ct).ConfigureAwait(false);
            foreach (var line in lines)
            {
                stdout.WriteLine(line);
            }
        }
        catch (Exception ex) when (ex is StoreException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"harden-runner: could not read the run's detections: {ex.Message}");
        }
    }
}
