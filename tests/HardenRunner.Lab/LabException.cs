namespace HardenRunner.Lab;

/// <summary>The lab could not be built or a lab operation failed; the message says which command and why.</summary>
public sealed class LabException : Exception
{
    public LabException()
    {
    }

    public LabException(string message)
        : base(message)
    {
    }

    public LabException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
