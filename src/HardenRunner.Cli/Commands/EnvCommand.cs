using System.CommandLine;
using HardenRunner.Trust;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner env</c>: the CA variables (NAME=value lines) of the running appliance.</summary>
internal static class EnvCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var stateDir = LifecycleCommands.StateDirOption();
        var cmd = new Command("env", "Print the CA environment variables (NAME=value) of the running appliance.") { stateDir };
        cmd.SetAction(parse =>
        {
            var dir = Path.GetFullPath(parse.GetValue(stateDir)!);
            var env = CaEnvironment.Load(Path.Combine(dir, HardenRunner.Hosting.Appliance.TrustDirectoryName));
            if (env is null)
            {
                stderr.WriteLine($"error: no appliance has installed a CA with state directory {dir}");
                return ExitCodes.Failure;
            }

            stdout.Write(env.Render());
            return ExitCodes.Success;
        });
        return cmd;
    }
}
