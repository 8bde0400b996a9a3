using HardenRunner.Store.Fleet;
using HardenRunner.Store.Postgres;

namespace HardenRunner.Store;

/// <summary>
/// Which store a command uses: <c>--store</c>, else <c>$HARDEN_RUNNER_STORE</c> (so that a password stays off the
/// command line), else the local SQLite file under the state directory. A store is either <c>sqlite</c> (the local
/// file) or a <c>postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE</c> URI (docs/store.md). Anything else is refused
/// with a reason that never repeats a password.
/// </summary>
public static class StoreSelection
{
    public const string EnvironmentVariable = "HARDEN_RUNNER_STORE";

    public const string LocalName = "sqlite";

    /// <summary>The store named by the option, else by the environment; null means the local SQLite file.</summary>
    public static string? Resolve(string? option, Func<string, string?> env)
    {
        ArgumentNullException.ThrowIfNull(env);
        return !string.IsNullOrWhiteSpace(option) ? option.Trim()
            : env(EnvironmentVariable) is { } e && !string.IsNullOrWhiteSpace(e) ? e.Trim()
            : null;
    }

    /// <summary>
    /// Null for the local SQLite store, else the PostgreSQL location. Throws <see cref="FormatException"/> for anything
    /// else (the message shows no password).
    /// </summary>
    public static PostgresStoreUri? Parse(string? spec)
    {
        if (spec is null || string.Equals(spec, LocalName, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        if (PostgresStoreUri.LooksLikePostgres(spec))
        {
            return PostgresStoreUri.Parse(spec);
        }

        var scheme = spec.IndexOf("://", StringComparison.Ordinal) is var i and > 0 ? spec[..i] + "://…" : "this value";
        throw new FormatException($"unsupported store {scheme}: use 'sqlite' (the local file) or postgres://USER@HOST[:PORT]/DATABASE");
    }

    /// <summary>
    /// The appliance's store: the local SQLite file, and in fleet mode (<paramref name="remote"/> given) a
    /// <see cref="FleetEventStore"/> that ships it to PostgreSQL in the background. Never connects here: an
    /// unreachable fleet database does not keep the appliance from starting.
    /// </summary>
    public static IEventStore OpenForAppliance(PostgresStoreUri? remote, string stateDir, FleetShippingOptions? options = null)
    {
        var local = SqliteEventStore.Open(SqliteEventStore.PathIn(stateDir));
        if (remote is null)
        {
            return local;
        }

        try
        {
            return FleetEventStore.Open(local, PostgresEventStore.Create(remote), remote.Display, options);
        }
        catch
        {
            local.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }
}
