namespace HardenRunner.Cli;

/// <summary>
/// Sizes <c>ArrayPool&lt;byte&gt;.Shared</c> for the proxy before anything uses it. With HTTP/2 upstream and hundreds of
/// streams in flight, <c>SocketsHttpHandler</c> rents 16 and 32 KiB arrays per request faster than the default pool
/// (32 arrays per size and core) keeps them: measured in the lab, about 28 KiB allocated per proxied HTTP/2 request,
/// ~35 collections a second (nearly all gen1, ~7 gen2), against about 5 KiB and a tenth of the collections with 1 024
/// (docs/performance.md). .NET reads the size only from the environment variable, once, when the pool is first used,
/// so <c>Main</c> sets it for its own process when the environment does not already say; an explicit value wins.
/// </summary>
internal static class ArrayPoolSize
{
    public const string Variable = "DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION";

    public const string Default = "1024";

    /// <summary>Sets <see cref="Variable"/> to <see cref="Default"/> unless <paramref name="get"/> already has a value.</summary>
    public static void Apply(Func<string, string?> get, Action<string, string> set)
    {
        if (string.IsNullOrEmpty(get(Variable)))
        {
            set(Variable, Default);
        }
    }

    /// <summary><see cref="Apply(Func{string, string?}, Action{string, string})"/> on this process's environment.</summary>
    public static void Apply() => Apply(Environment.GetEnvironmentVariable, Environment.SetEnvironmentVariable);
}
