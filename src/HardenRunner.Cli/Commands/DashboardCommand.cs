using System.CommandLine;
using System.Runtime.InteropServices;
using HardenRunner.Dashboard;
using HardenRunner.Store;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner dashboard [--urls URL] [--state-dir DIR]</c>: serves <see cref="DashboardServer"/> until SIGINT/SIGTERM.</summary>
internal static class DashboardCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var urls = new Option<string>("--urls")
        {
            Description = $"Where to listen: http://ADDRESS:PORT, several separated by ';' (default {DashboardOptions.DefaultUrl}, loopback only).",
            DefaultValueFactory = _ => DashboardOptions.DefaultUrl,
        };
        var stateDir = LifecycleCommands.StateDirOption();
        var cmd = new Command("dashboard", "A web UI over the store: runs, each run's report, a JSON API under /api/.") { urls, stateDir };
        cmd.SetAction(async (parse, ct) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(stateDir)!);
            var options = new DashboardOptions { Urls = [parse.GetValue(urls)!] };
            if (DashboardOptions.ParseUrls(options.Urls).Error is { } error)
            {
                stderr.WriteLine($"error: {error}");
                return ExitCodes.InvalidInput;
            }

            var dbPath = SqliteEventStore.PathIn(dir);
            if (!File.Exists(dbPath))
            {
                stderr.WriteLine($"error: no store at {dbPath}: no run was recorded with state directory {dir}");
                return ExitCodes.Failure;
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.Cancel();
            });
            try
            {
                await using var store = SqliteEventStore.Open(dbPath);
                await using var server = await DashboardServer.StartAsync(store, options, stop.Token).ConfigureAwait(false);
                stdout.WriteLine($"harden-runner: dashboard of {dbPath} on {string.Join(", ", server.Urls)} (Ctrl+C to stop)");
                await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                try
                {
                    await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }

                return ExitCodes.Success;
            }
            catch (StoreException ex)
            {
                stderr.WriteLine($"error: {ex.Message}");
                return ExitCodes.Failure;
            }
            catch (IOException ex)
            {
                stderr.WriteLine($"error: cannot listen on {string.Join(", ", options.Urls)}: {ex.Message}");
                return ExitCodes.Failure;
            }
        });
        return cmd;
    }
}
