namespace HardenRunner.Proxy.Upstream;

/// <summary>The proxy could not reach an upstream (no address, refused, timed out).</summary>
public sealed class UpstreamConnectException : IOException
{
    public UpstreamConnectException()
    {
    }

    public UpstreamConnectException(string message)
        : base(message)
    {
    }

    public UpstreamConnectException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
