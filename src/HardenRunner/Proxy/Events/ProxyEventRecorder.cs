using HardenRunner.Events;
using HardenRunner.Monitoring.Network;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy.Connection;

namespace HardenRunner.Proxy.Events;

/// <summary>
/// Turns the proxy's decisions into <see cref="NetworkEvent"/>s (kind https or http): one per request, one per spliced or
/// rejected connection, and a detection for domain fronting. Only host, address, port, method, a redacted path, the
/// decision and the rule are recorded: never headers, bodies or credentials. Every event carries the process and step of
/// the connection's client (<see cref="ProxyConnectionFeature.Attribution"/>); it is published once that lookup has
/// ended, which for all but a connection's first moments is at once.
/// </summary>
internal sealed class ProxyEventRecorder(IEventSink sink, TimeProvider time)
{
    public const string KindHttps = "https";
    public const string KindHttp = "http";

    /// <summary>Records a request; returns the action (passed or blocked) it recorded.</summary>
    public string Request(ProxyConnectionFeature connection, string? host, string method, string target, Verdict verdict, EgressMode mode, bool forcedBlock = false)
    {
        var action = Action(verdict, mode, forcedBlock);
        sink.PublishAttributed(new NetworkEvent(
            time.GetUtcNow(),
            connection.IsTls ? KindHttps : KindHttp,
            host,
            connection.Address,
            connection.OriginalDestination.Port,
            verdict.Decision,
            action,
            verdict.Rule,
            Method: method,
            Path: PathRedactor.Redact(target)), connection.Attribution);
        return action;
    }

    /// <summary>Records a connection that has no per-request events (spliced or rejected).</summary>
    public void Connection(ProxyConnectionFeature connection, string? host, Verdict verdict, bool blocked)
    {
        sink.PublishAttributed(new NetworkEvent(
            time.GetUtcNow(),
            connection.IsTls ? KindHttps : KindHttp,
            host,
            connection.Address,
            connection.OriginalDestination.Port,
            verdict.Decision,
            blocked ? NetworkEvent.Blocked : NetworkEvent.Passed,
            verdict.Rule), connection.Attribution);
    }

    /// <summary>A connection that was refused before its destination was known (not redirected).</summary>
    public void Unredirected(string? address, int port, bool tls, string rule, PendingAttribution? client = null)
    {
        sink.PublishAttributed(new NetworkEvent(
            time.GetUtcNow(),
            tls ? KindHttps : KindHttp,
            null,
            address,
            port,
            Decision.Deny,
            NetworkEvent.Blocked,
            rule), client);
    }

    /// <summary>A TLS name and an HTTP Host that differ: the request was aimed at one host under the cover of another.</summary>
    public void DomainFronting(ProxyConnectionFeature connection, string sni, string host, bool blocked)
    {
        sink.PublishAttributed(new DetectionEvent(
            time.GetUtcNow(),
            Monitoring.Detectors.DetectionTypes.DomainFronting,
            "high",
            $"HTTP Host '{host}' differs from the TLS server name '{sni}' ({(blocked ? "blocked" : "passed, audit mode")})",
            new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["sni"] = sni,
                ["host"] = host,
                ["address"] = connection.Address,
                ["port"] = connection.OriginalDestination.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }), connection.Attribution);
    }

    /// <summary>A client aimed a name at an address that is not one of the name's: the proxy went to the name's own address.</summary>
    public void DestinationMismatch(ProxyConnectionFeature connection, string host)
    {
        sink.PublishAttributed(new DetectionEvent(
            time.GetUtcNow(),
            Monitoring.Detectors.DetectionTypes.SniMismatch,
            "high",
            $"a connection for '{host}' was aimed at {connection.Address}, which is not one of its addresses; the proxy used the name's own address",
            new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["host"] = host,
                ["address"] = connection.Address,
                ["port"] = connection.OriginalDestination.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }), connection.Attribution);
    }

    private static string Action(Verdict verdict, EgressMode mode, bool forcedBlock) =>
        forcedBlock || (!verdict.IsAllowed && mode == EgressMode.Block) ? NetworkEvent.Blocked : NetworkEvent.Passed;
}
