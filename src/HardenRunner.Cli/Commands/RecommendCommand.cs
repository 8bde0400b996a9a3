using System.CommandLine;
using HardenRunner.Insights;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner recommend [--run ID] [--runs N] [--permissions] [-o FILE] [--state-dir DIR] [--store STORE]</c> (the logic is <see cref="RecommendRunner"/>).</summary>
internal static class RecommendCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var run = new Option<string?>("--run") { Description = "The run to start from (default: the latest); earlier runs of its job are added." };
        var runs = new Option<int?>("--runs") { Description = "Use the latest N runs of the job (default: every run kept)." };
        var permissions = new Option<bool>("--permissions") { Description = "Print the GITHUB_TOKEN permissions: block instead of the policy." };
        var output = new Option<string?>("--output", "-o") { Description = "Write to FILE (mode 0600) instead of standard output." };
        var stateDir = LifecycleCommands.StateDirOption();
        var store = LifecycleCommands.StoreOption();
        var cmd = new Command("recommend", "Print a block-mode policy (or the GITHUB_TOKEN permissions) recommended from a job's recorded runs.")
        {
            run, runs, permissions, output, stateDir, store,
        };
        cmd.SetAction(async (parse, ct) => await RecommendRunner.RunAsync(
            new RecommendRequest(
                Path.GetFullPath(parse.GetValue(stateDir)!),
                parse.GetValue(run),
                parse.GetValue(runs),
                parse.GetValue(output) is { } o ? Path.GetFullPath(o) : null,
                parse.GetValue(permissions),
                HardenRunner.Store.StoreSelection.Resolve(parse.GetValue(store), Environment.GetEnvironmentVariable)),
            stdout,
            stderr,
            ct).ConfigureAwait(false));
        return cmd;
    }
}
