using HardenRunner.Store;

namespace HardenRunner.Reporting;

/// <summary>The JSON report written to the state directory when a run stops (<see cref="JsonFileName"/>, mode 0600).</summary>
public static class RunReportFile
{
    public const string JsonFileName = "report.json";

    /// <summary>Writes the JSON report of run <paramref name="runId"/> to <c>report.json</c> under <paramref name="stateDir"/>; returns its path.</summary>
    public static async Task<string> WriteJsonAsync(IEventStore store, string runId, string stateDir, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var run = await store.GetRunAsync(runId, cancellationToken).ConfigureAwait(false)
            ?? throw new StoreException($"unknown run '{runId}'");
        var path = Path.Combine(stateDir, JsonFileName);
        await PrivateFile.WriteAtomicallyAsync(path, s => JsonReportBuilder.WriteAsync(store, run, s, cancellationToken), cancellationToken).ConfigureAwait(false);
        return path;
    }
}
