namespace HardenRunner.Trust;

/// <summary>The CA could not be put into (or taken out of) the trust stores; the message says which file and why.</summary>
public sealed class TrustStoreException : Exception
{
    public TrustStoreException()
    {
    }

    public TrustStoreException(string message)
        : base(message)
    {
    }

    public TrustStoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
