namespace HardenRunner.Store;

/// <summary>The store cannot do what was asked: unknown run, duplicate run, unreadable or too new database, I/O failure.</summary>
public sealed class StoreException : Exception
{
    public StoreException()
    {
    }

    public StoreException(string message)
        : base(message)
    {
    }

    public StoreException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
