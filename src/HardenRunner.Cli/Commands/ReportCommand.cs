using System.CommandLine;
using HardenRunner.Reporting;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner report [--run ID | --live] --format json|markdown|html|sarif [-o FILE] [--state-dir DIR]</c> (the logic is <see cref="ReportRunner"/>).</summary>
internal static class ReportCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var run = new Option<string?>("--run") { Description = "The run to render (default: the latest)." };
        var format = new Option<string>("--format")
        {
            Description = "Output format: json (DESIGN §5), markdown (the job summary), html (one self-contained page), sarif (detections, SARIF 2.1.0).",
            DefaultValueFactory = _ => ReportRunner.JsonFormat,
        };
        format.AcceptOnlyFromAmong(ReportRunner.Formats);
        var output = new Option<string?>("--output", "-o") { Description = "Write the report to FILE (mode 0600) instead of standard output." };
        var live = new Option<bool>("--live") { Description = "Ask the running appliance for its run so far (a step without sudo can keep the report this way; with a stop token any local user may ask)." };
        var stateDir = LifecycleCommands.StateDirOption();
        var store = LifecycleCommands.StoreOption();
        var cmd = new Command("report", "Render a recorded run (default: the latest) as JSON, Markdown, HTML or SARIF.") { run, format, output, live, stateDir, store };
        cmd.SetAction(async (parse, ct) => await ReportRunner.RunAsync(
            new ReportRequest(
                Path.GetFullPath(parse.GetValue(stateDir)!),
                parse.GetValue(run),
                parse.GetValue(format)!,
                parse.GetValue(output) is { } o ? Path.GetFullPath(o) : null,
                parse.GetValue(live) ? parse.GetValue(store) : HardenRunner.Store.StoreSelection.Resolve(parse.GetValue(store), Environment.GetEnvironmentVariable),
                parse.GetValue(live)),
            stdout,
            stderr,
            ct).ConfigureAwait(false));
        return cmd;
    }
}
