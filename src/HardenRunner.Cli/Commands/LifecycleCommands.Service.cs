using System.CommandLine;
using HardenRunner.Service;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner service</c>: service mode (docs/deployment.md).</summary>
internal static partial class LifecycleCommands
{
    private static Command Service(TextWriter stdout, TextWriter stderr)
    {
        var opts = new RunOptions();
        var workers = new Option<string[]>("--worker-name")
        {
            Description = "Name (executable file name or comm) of the runner's job worker; repeatable.",
            DefaultValueFactory = _ => ["Runner.Worker"],
            AllowMultipleArgumentsPerToken = true,
        };
        var listeners = new Option<string[]>("--listener-name")
        {
            Description = "Name of the runner's listener, the worker's parent; repeatable.",
            DefaultValueFactory = _ => ["Runner.Listener"],
            AllowMultipleArgumentsPerToken = true,
        };
        var cmd = new Command(
            "service",
            "Service mode for self-hosted runners: run in the foreground for the life of the host; every job (a runner worker starting and ending) becomes its own run with its workspace's policy, the given policy applies between jobs.");
        opts.AddTo(cmd);
        cmd.Options.Add(workers);
        cmd.Options.Add(listeners);
        cmd.SetAction(async (parse, ct) =>
        {
            var names = new JobProcessNames { WorkerNames = parse.GetValue(workers)!, ListenerNames = parse.GetValue(listeners)! };
            return await ServiceHost.RunAsync(opts.Bind(parse), new ServiceOptions { Names = names }, stdout, stderr, ct).ConfigureAwait(false);
        });
        return cmd;
    }
}
