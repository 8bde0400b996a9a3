namespace HardenRunner.Netfilter;

/// <summary>An allow was decided under a policy that another one replaced before it was installed; it was not installed.</summary>
public sealed class PolicyReplacedException : InvalidOperationException
{
    public PolicyReplacedException()
        : base("the policy was replaced before this allow was installed; it was decided under the old policy and was not installed")
    {
    }

    public PolicyReplacedException(string message)
        : base(message)
    {
    }

    public PolicyReplacedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
