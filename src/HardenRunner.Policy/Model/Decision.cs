namespace HardenRunner.Policy.Model;

/// <summary>The answer of the policy engine.</summary>
public enum Decision
{
    Allow,
    Deny,
}

/// <summary>A decision and the text of the rule that made it. Rule texts are computed when the policy is compiled, so a verdict never allocates.</summary>
public readonly record struct Verdict(Decision Decision, string Rule)
{
    public bool IsAllowed => Decision == Decision.Allow;

    public static Verdict Allow(string rule) => new(Decision.Allow, rule);

    public static Verdict Deny(string rule) => new(Decision.Deny, rule);

    public string DecisionText => Decision == Decision.Allow ? "allow" : "deny";
}

/// <summary>Layer-4 protocol of a flow.</summary>
public enum Transport
{
    Tcp,
    Udp,
}
