namespace HardenRunner.Netfilter;

/// <summary>Output options for an nft command (a subset of libnftables' NFT_CTX_OUTPUT_* flags).</summary>
[Flags]
public enum NftOutput
{
    None = 0,

    /// <summary>Omit stateful values (counters, quotas).</summary>
    Stateless = 1 << 2,

    /// <summary>Emit JSON instead of the nft language.</summary>
    Json = 1 << 4,
}

/// <summary>Runs nft commands (the nft language) against the kernel, each buffer as one atomic transaction.</summary>
public interface INftables
{
    /// <summary>Runs <paramref name="commands"/>; returns nft's output. Throws <see cref="NftablesException"/> with nft's error text.</summary>
    Task<string> RunAsync(string commands, NftOutput output = NftOutput.None, CancellationToken cancellationToken = default);

    /// <summary>Checks <paramref name="commands"/> without applying them (<c>nft -c</c>).</summary>
    Task CheckAsync(string commands, CancellationToken cancellationToken = default);
}

/// <summary>An nft command failed; <see cref="Exception.Message"/> carries nft's own error text.</summary>
public sealed class NftablesException : Exception
{
    public NftablesException()
    {
    }

    public NftablesException(string message)
        : base(message)
    {
    }

    public NftablesException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>True when the error says the object does not exist (ENOENT), e.g. listing a table that was deleted.</summary>
    public bool IsNotFound => Message.Contains("No such file or directory", StringComparison.Ordinal);
}
