using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Model;

/// <summary>A validated policy, presets merged in. Immutable; compile it with <see cref="PolicyEngine"/> to ask questions.</summary>
public sealed record PolicyDocument
{
    /// <summary>The policy of a run with no file and no flags: audit mode, nothing allowed, everything recorded.</summary>
    public static PolicyDocument Default { get; } = new();

    public EgressMode EgressPolicy { get; init; } = EgressMode.Audit;

    public IReadOnlyList<string> Extends { get; init; } = [];

    public IReadOnlyList<EndpointSpec> AllowedEndpoints { get; init; } = [];

    public IReadOnlyList<CidrSpec> AllowedCidrs { get; init; } = [];

    public IReadOnlyList<HostRuleSet> Rules { get; init; } = [];

    public IReadOnlyList<HostPattern> TlsPassthrough { get; init; } = [];

    public bool FileMonitoring { get; init; } = true;

    public bool DisableSudo { get; init; }

    public bool DisableSudoAndContainers { get; init; }

    /// <summary>Where the policy came from (a path, "(default)", "--allowed-endpoints").</summary>
    public string Source { get; init; } = "(default)";
}
