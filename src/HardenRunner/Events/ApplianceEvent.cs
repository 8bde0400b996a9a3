using HardenRunner.Policy.Model;

namespace HardenRunner.Events;

/// <summary>Something the appliance saw. Every component publishes these to one <see cref="IEventSink"/>.</summary>
public abstract record ApplianceEvent(DateTimeOffset Time);

/// <summary>
/// A network event: a DNS query, a proxied request, or a flow the firewall logged.
/// <paramref name="Kind"/> is one of dns, https, http, tcp, udp; <paramref name="Action"/> is passed or blocked.
/// In audit mode a denied flow has Decision = Deny and Action = passed.
/// </summary>
public sealed record NetworkEvent(
    DateTimeOffset Time,
    string Kind,
    string? Host,
    string? Address,
    int Port,
    Decision Decision,
    string Action,
    string Rule,
    string? Method = null,
    string? Path = null,
    string? QueryType = null) : ApplianceEvent(Time)
{
    public const string Passed = "passed";
    public const string Blocked = "blocked";

    /// <summary>The process that made the request, when known.</summary>
    public ProcessInfo? Process { get; init; }

    /// <summary>The workflow step that made the request, when known.</summary>
    public StepInfo? Step { get; init; }

    /// <summary>For a request to a GitHub host that carried a credential: what decides its token permissions.</summary>
    public GitHubCall? GitHub { get; init; }
}

/// <summary>A detection (DESIGN §5): firewall-tampered, egress-blocked, dns-exfiltration, ...</summary>
public sealed record DetectionEvent(
    DateTimeOffset Time,
    string Type,
    string Severity,
    string Summary,
    IReadOnlyDictionary<string, string> Evidence) : ApplianceEvent(Time)
{
    /// <summary>The process responsible, when known.</summary>
    public ProcessInfo? Process { get; init; }

    /// <summary>The workflow step responsible, when known.</summary>
    public StepInfo? Step { get; init; }
}

/// <summary>Where components publish events. Implementations must be thread-safe and must not block the caller for long.</summary>
public interface IEventSink
{
    void Publish(ApplianceEvent e);
}
