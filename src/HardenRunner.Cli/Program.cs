using System.CommandLine;
using HardenRunner.Cli.Commands;

namespace HardenRunner.Cli;

/// <summary>The composition root of the <c>harden-runner</c> executable: commands are wired here, logic lives in the libraries.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        ArrayPoolSize.Apply(); // first: the pool reads its size once, at its first use
        return Run(args, Console.Out, Console.Error);
    }

    /// <summary>Runs the CLI with the given writers (the tests call this in-process).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = BuildRoot(stdout, stderr);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
            {
                stderr.WriteLine($"error: {e.Message}");
            }

            stderr.WriteLine("Run 'harden-runner --help' for usage.");
            return ExitCodes.InvalidInput;
        }

        try
        {
            return parse.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        }
        catch (Exception ex)
        {
            stderr.WriteLine($"error: {ex.Message}");
            return ExitCodes.Failure;
        }
    }

    internal static RootCommand BuildRoot(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("HardenRunner: the firewall and flight recorder for CI jobs.");
        foreach (var command in LifecycleCommands.Create(stdout, stderr))
        {
            root.Subcommands.Add(command);
        }

        root.Subcommands.Add(EnvCommand.Create(stdout, stderr));
        root.Subcommands.Add(ReportCommand.Create(stdout, stderr));
        root.Subcommands.Add(DashboardCommand.Create(stdout, stderr));
        root.Subcommands.Add(RecommendCommand.Create(stdout, stderr));
        root.Subcommands.Add(PolicyCommands.Create(stdout, stderr));
        return root;
    }
}
