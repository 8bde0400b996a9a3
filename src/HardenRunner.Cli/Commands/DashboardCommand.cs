using System.CommandLine;
using System.Runtime.InteropServices;
using HardenRunner.Dashboard;
using HardenRunner.Store;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner dashboard [--urls URL] [--state-dir DIR] [--store STORE] [--access FILE --auth-header NAME]</c>: serves <see cref="DashboardServer"/> until SIGINT/SIGTERM.</summary>
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
        var store = LifecycleCommands.StoreOption();
        var access = new Option<string?>("--access") { Description = "Per-repository access: a YAML file mapping each user to repository patterns (docs/reports.md). Needs --auth-header." };
        var authHeader = new Option<string?>("--auth-header") { Description = "The header a trusted reverse proxy sets to the authenticated user (e.g. X-Forwarded-User). Honoured only with --access." };
        var cmd = new Command("dashboard", "A web UI over the store: runs, each run's report, destinations and detections across runs, a JSON API under /api/.")
        {
            urls, stateDir, store, access, authHeader,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(stateDir)!);
            DashboardAccess? mapping = null;
            if (parse.GetValue(access) is { } accessPath)
            {
                try
                {
                    mapping = DashboardAccess.Load(Path.GetFullPath(accessPath));
                }
                catch (Exception ex) when (ex is FormatException or IOException)
                {
                    stderr.WriteLine($"error: --access {accessPath}: {ex.Message}");
                    return ExitCodes.InvalidInput;
                }
            }

            var options = new DashboardOptions { Urls = [parse.GetValue(urls)!], Access = mapping, AuthHeader = parse.GetValue(authHeader) };
            if ((DashboardOptions.ParseUrls(options.Urls).Error ?? options.AccessError()) is { } error)
            {
                stderr.WriteLine($"error: {error}");
                return ExitCodes.InvalidInput;
            }

            var (opened, code, openError) = await StoreReader.OpenAsync(
                StoreSelection.Resolve(parse.GetValue(store), Environment.GetEnvironmentVariable), dir, ct).ConfigureAwait(false);
            if (opened is null)
            {
                stderr.WriteLine($"error: {openError}");
                return code;
            }

            var dbPath = opened.Display;

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
            {
                c.Cancel = true;
                stop.Cancel();
            });
            try
            {
                await using var reader = opened.Store;
                await using var server = await DashboardServer.StartAsync(reader, options, stop.Token).ConfigureAwait(false);
                stdout.WriteLine($"harden-runner: dashboard of {dbPath} on {string.Join(", ", server.Urls)}"
                    + (mapping is null ? "" : $" (per-repository access for {mapping.Users.Count} user(s), user from {options.AuthHeader})")
                    + " (Ctrl+C to stop)");
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
