using HardenRunner.Policy.Loading;
using HardenRunner.Reporting;
using HardenRunner.Store;

namespace HardenRunner.Insights;

/// <summary>What <c>harden-runner recommend</c> was asked for.</summary>
/// <remarks><paramref name="Store"/> is <c>--store</c> / <c>$HARDEN_RUNNER_STORE</c> (null: the local file): with the fleet's PostgreSQL database, the job's runs from every runner are used.</remarks>
public sealed record RecommendRequest(string StateDir, string? RunId, int? Runs, string? OutputPath, bool Permissions = false, string? Store = null);

/// <summary>
/// <c>harden-runner recommend [--run ID] [--runs N] [--permissions] [-o FILE] [--state-dir DIR]</c>: the policy (or, with
/// <c>--permissions</c>, the GITHUB_TOKEN <c>permissions:</c> block) recommended from a run (default: the latest) and the
/// earlier runs of its job. The policy is loaded with the policy loader before it is printed: an invalid one is an
/// error (exit 1), never output. Exit codes follow DESIGN §3.
/// </summary>
public static class RecommendRunner
{
    public static async Task<int> RunAsync(RecommendRequest request, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        if (request.Runs is < 1)
        {
            stderr.WriteLine("error: --runs must be at least 1");
            return 2;
        }

        var (opened, code, error) = await StoreReader.OpenAsync(request.Store, request.StateDir, cancellationToken).ConfigureAwait(false);
        if (opened is null)
        {
            stderr.WriteLine($"error: {error}");
            return code;
        }

        var dbPath = opened.Display;
        try
        {
            await using var store = opened.Store;
            var run = request.RunId is { } id
                ? await store.GetRunAsync(id, cancellationToken).ConfigureAwait(false)
                : (await store.ListRunsAsync(new RunFilter { Limit = 1 }, cancellationToken).ConfigureAwait(false)).FirstOrDefault();
            if (run is null)
            {
                stderr.WriteLine(request.RunId is null ? $"error: the store {dbPath} has no runs" : $"error: no run '{request.RunId}' in {dbPath}");
                return request.RunId is null ? 1 : 2;
            }

            var insights = await RunInsights.BuildAsync(store, run, new InsightsOptions { Runs = request.Runs }, cancellationToken).ConfigureAwait(false);
            string text;
            if (request.Permissions)
            {
                text = insights.TokenPermissions.ToYaml();
            }
            else
            {
                text = insights.RecommendedPolicy;
                var check = PolicyLoader.Parse(text, "recommended policy");
                if (!check.Success)
                {
                    stderr.WriteLine("error: the recommended policy does not pass the policy check (a bug; nothing was written):");
                    foreach (var d in check.Diagnostics)
                    {
                        stderr.WriteLine("  " + d);
                    }

                    return 1;
                }
            }

            if (request.OutputPath is { } output)
            {
                await PrivateFile.WriteAtomicallyAsync(output, async s =>
                {
                    var bytes = System.Text.Encoding.UTF8.GetBytes(text);
                    await s.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                }, cancellationToken).ConfigureAwait(false);
                stderr.WriteLine($"harden-runner: wrote the recommendation from {insights.Runs.Count} run(s) to {output}");
            }
            else
            {
                await stdout.WriteAsync(text).ConfigureAwait(false);
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
}
