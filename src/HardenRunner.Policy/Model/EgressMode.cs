namespace HardenRunner.Policy.Model;

/// <summary>What the appliance does with a flow that the policy does not allow.</summary>
public enum EgressMode
{
    /// <summary>Record everything, block nothing.</summary>
    Audit,

    /// <summary>Refuse what the policy does not allow.</summary>
    Block,
}
