using System.Security.Authentication;
using HardenRunner.Policy;
using HardenRunner.Proxy.Events;
using HardenRunner.Proxy.Upstream;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Utilities.Tls;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// Step 3 (HTTPS port): intercept, splice or reject, as <see cref="ConnectionDecision"/> says. Rejected TLS clients get
/// a TLS alert (access denied) so they report a clear error; other rejected connections are closed. Spliced and rejected
/// connections are recorded here; intercepted ones go on to the TLS handshake and are recorded per request.
/// </summary>
internal sealed partial class TlsDecisionMiddleware(ActivePolicy policy, ProxyEventRecorder events, Splicer splicer, IUpstreamResolver resolver, ILogger logger)
{
    private static readonly byte[] AccessDenied = TlsFrameHelper.CreateAlertFrame(SslProtocols.Tls12, TlsAlertDescription.AccessDenied);

    public const string NoRequestSuffix = "; intercepted, no HTTP request (TLS handshake failed or connection closed)";

    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection => InvokeAsync(connection, next);

    private async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var feature = connection.Features.Get<ProxyConnectionFeature>()
            ?? throw new InvalidOperationException("the original destination step must run first");
        if (feature.PeekedBytes == 0)
        {
            return; // nothing was sent: nothing to decide, nothing to record
        }

        var engine = policy.Current; // one policy for the whole decision (it can be switched in service mode)
        var decision = ConnectionDecision.Decide(engine, engine.Mode, feature.OriginalDestination, feature.Peek);
        switch (decision.Action)
        {
            case ConnectionAction.Reject:
                events.Connection(feature, decision.Host, decision.Verdict, blocked: true);
                LogRejected(logger, decision.Host ?? "(no name)", feature.Address, feature.OriginalDestination.Port, decision.Verdict.Rule);
                await feature.HoldForAttributionAsync().ConfigureAwait(false); // before the client hears the refusal
                if (decision.SendAlert)
                {
                    await connection.Transport.Output.WriteAsync(AccessDenied, connection.ConnectionClosed).ConfigureAwait(false);
                }

                return;
            case ConnectionAction.Splice:
                events.Connection(feature, decision.Host, decision.Verdict, blocked: false);
                await feature.HoldForAttributionAsync().ConfigureAwait(false); // before any byte of the upstream reaches the client
                await splicer.SpliceAsync(connection, feature, decision.SpliceByName ? decision.Host : null).ConfigureAwait(false);
                return;
            default:
                if (decision.Verdict.IsAllowed && decision.Host is { } name)
                {
                    // the name's addresses are asked for while the client's handshake runs (Upstream.EarlyResolution); the
                    // TLS step may also open the first request's upstream connection meanwhile (Upstream.EarlyUpstream)
                    feature.EarlyResolution = EarlyResolution.Start(resolver, name);
                }

                try
                {
                    await next(connection).ConfigureAwait(false);
                }
                finally
                {
                    feature.EarlyUpstream?.Release(); // an upstream connection the first request did not take
                    if (feature.Requests == 0)
                    {
                        // the handshake failed (e.g. a client that does not trust the CA) or no request came: the
                        // connection is still recorded, so an audited denied name is never lost
                        events.Connection(feature, decision.Host, decision.Verdict with { Rule = decision.Verdict.Rule + NoRequestSuffix }, blocked: false);
                    }
                }

                return;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "rejected TLS connection for {Host} to {Address}:{Port}: {Rule}")]
    private static partial void LogRejected(ILogger logger, string host, string address, int port, string rule);
}
