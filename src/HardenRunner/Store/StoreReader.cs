using HardenRunner.Store.Postgres;

namespace HardenRunner.Store;

/// <summary>A store opened for reading by a command (<c>report</c>, <c>dashboard</c>, <c>recommend</c>) and how to name it to people.</summary>
public sealed record OpenedStore(IEventStore Store, string Display);

/// <summary>
/// Opens the store a reading command selected (<c>--store</c> / <c>$HARDEN_RUNNER_STORE</c>, see
/// <see cref="StoreSelection"/>): the local SQLite file under the state directory, or the fleet's PostgreSQL database.
/// Failures are returned as an exit code (DESIGN §3: 2 bad input, 1 anything else) and a message that never repeats a
/// password.
/// </summary>
public static class StoreReader
{
    public static async Task<(OpenedStore? Opened, int ExitCode, string? Error)> OpenAsync(string? spec, string stateDir, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stateDir);
        PostgresStoreUri? remote;
        try
        {
            remote = StoreSelection.Parse(spec);
        }
        catch (FormatException ex)
        {
            return (null, 2, $"--store: {ex.Message}");
        }

        if (remote is null)
        {
            var dbPath = SqliteEventStore.PathIn(stateDir);
            if (!File.Exists(dbPath))
            {
                return (null, 1, $"no store at {dbPath}: no run was recorded with state directory {stateDir}");
            }

            try
            {
                return (new OpenedStore(SqliteEventStore.Open(dbPath), dbPath), 0, null);
            }
            catch (StoreException ex)
            {
                return (null, 1, ex.Message);
            }
        }

        try
        {
            return (new OpenedStore(await PostgresEventStore.OpenAsync(remote, cancellationToken).ConfigureAwait(false), remote.Display), 0, null);
        }
        catch (StoreException ex)
        {
            return (null, 1, ex.Message);
        }
    }
}
