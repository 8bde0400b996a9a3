using System.Net;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;

namespace HardenRunner.Proxy.Connection;

/// <summary>What happens to a connection on the HTTPS port once its first bytes are known.</summary>
internal enum ConnectionAction
{
    /// <summary>Terminate TLS with a minted certificate and inspect every request.</summary>
    Intercept,

    /// <summary>Copy bytes both ways, unchanged, to an upstream the proxy picks (see <see cref="ConnectionDecision.SpliceByName"/>).</summary>
    Splice,

    /// <summary>Refuse: a TLS alert (access denied) for TLS clients, a plain close otherwise.</summary>
    Reject,
}

/// <summary>
/// The connection-level decision (pure). <see cref="Verdict"/> is what the policy said; <see cref="Action"/> what the
/// proxy does (in audit mode a denied connection is still passed). <see cref="Record"/> says whether the connection
/// gets its own event: intercepted connections are recorded per request instead.
/// </summary>
internal sealed record ConnectionDecision(ConnectionAction Action, Verdict Verdict, string? Host, bool SpliceByName, bool SendAlert)
{
    public const string RuleNoSni = "tls: no SNI in the ClientHello";
    public const string RuleNotTls = "tls: not TLS on the HTTPS port";
    public const string RuleNoHello = "tls: no ClientHello";

    public bool Record => Action != ConnectionAction.Intercept;

    /// <summary>
    /// Decides for a peeked connection:
    /// <list type="bullet">
    /// <item>a ClientHello with an SNI: the policy's layer-4 answer for (SNI, port). Denied → reject (block) or intercept
    /// and record every request (audit). Allowed → intercept, or splice to the name's own addresses for a
    /// <c>tls.passthrough</c> host.</item>
    /// <item>no SNI, non-TLS bytes, an unparseable hello: only the destination address is known. If the policy allows that
    /// address (allowed-cidrs, address endpoints) the bytes are spliced to it; otherwise block mode rejects and audit
    /// mode splices and records the deny.</item>
    /// </list>
    /// </summary>
    public static ConnectionDecision Decide(PolicyEngine policy, EgressMode mode, IPEndPoint destination, ClientHelloResult peek)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(destination);
        var block = mode == EgressMode.Block;
        if (peek.Status == ClientHelloStatus.Complete && peek.Hello?.ServerName is { } sni)
        {
            var verdict = policy.DecideConnection(sni, destination.Port, Transport.Tcp);
            if (!verdict.IsAllowed && block)
            {
                return new ConnectionDecision(ConnectionAction.Reject, verdict, sni, SpliceByName: false, SendAlert: true);
            }

            return policy.IsPassthrough(sni)
                ? new ConnectionDecision(ConnectionAction.Splice, verdict, sni, SpliceByName: true, SendAlert: false)
                : new ConnectionDecision(ConnectionAction.Intercept, verdict, sni, SpliceByName: false, SendAlert: false);
        }

        var why = peek.Status switch
        {
            ClientHelloStatus.Complete => RuleNoSni,
            ClientHelloStatus.NotTls => RuleNotTls,
            ClientHelloStatus.NeedMore => peek.Problem is null ? RuleNoHello : "tls: " + peek.Problem,
            _ => "tls: " + (peek.Problem ?? "ClientHello cannot be parsed"),
        };
        var address = policy.DecideAddress(destination.Address, destination.Port, Transport.Tcp);
        var tlsClient = peek.Status is ClientHelloStatus.Complete or ClientHelloStatus.Malformed;
        if (address.IsAllowed)
        {
            return new ConnectionDecision(ConnectionAction.Splice, Verdict.Allow($"{why}; {address.Rule}"), null, SpliceByName: false, SendAlert: false);
        }

        var denied = Verdict.Deny($"{why}; {address.Rule}");
        return block
            ? new ConnectionDecision(ConnectionAction.Reject, denied, null, SpliceByName: false, SendAlert: tlsClient)
            : new ConnectionDecision(ConnectionAction.Splice, denied, null, SpliceByName: false, SendAlert: false);
    }
}
