using System.Net;
using HardenRunner.Monitoring.Network;
using HardenRunner.Proxy.Events;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// Step 1 of the chain: where was the client going? Reads the original destination from the accepted socket. A
/// connection whose destination cannot be read, or whose destination is the proxy's own listening address (someone
/// connected to the proxy port directly instead of being redirected), is refused: the proxy never guesses a destination.
/// Here too, once per connection, the lookup of the client's process starts (<paramref name="attribution"/>) on the
/// lookup thread. The connection goes on at once: the ClientHello peek, the decision, the certificate and the TLS
/// handshake run while the lookup does. The steps that answer the client for the first time (a TLS alert, a splice, a
/// refusal, an HTTP response) wait for it first, for at most <paramref name="attributionWait"/> (until it answers, the
/// client waits, so its socket is still there to be found); the connection's events are published when it ends.
/// </summary>
internal sealed partial class OriginalDestinationMiddleware(IOriginalDestinationReader reader, bool isTls, ProxyEventRecorder events, AttributionQueue? attribution, TimeSpan attributionWait, ILogger logger)
{
    public const string RuleNotRedirected = "proxy: connection was not redirected (no original destination)";

    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection => InvokeAsync(connection, next);

    private async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var socket = connection.Features.Get<IConnectionSocketFeature>()?.Socket;
        var local = connection.LocalEndPoint as IPEndPoint;
        var destination = socket is null ? null : reader.Read(socket);
        if (destination is not null)
        {
            destination = new IPEndPoint(Unmap(destination.Address), destination.Port);
        }

        // the client's socket is aimed at the original destination (or, not redirected, at the proxy's own end)
        var localEnd = local is null ? null : new IPEndPoint(Unmap(local.Address), local.Port);
        var origin = attribution is not null && connection.RemoteEndPoint is IPEndPoint remote
            ? attribution.Tcp(new IPEndPoint(Unmap(remote.Address), remote.Port), destination ?? localEnd, localEnd)
            : null;

        if (destination is null || (local is not null && destination.Port == local.Port && destination.Address.Equals(Unmap(local.Address))))
        {
            LogNotRedirected(logger, local?.Port ?? 0);
            events.Unredirected(local is null ? null : Unmap(local.Address).ToString(), local?.Port ?? 0, isTls, RuleNotRedirected, origin);
            if (origin is { IsCompleted: false } && attributionWait > TimeSpan.Zero)
            {
                await origin.WaitAsync(attributionWait).ConfigureAwait(false); // the refusal is the proxy's first answer
            }

            connection.Abort(new ConnectionAbortedException(RuleNotRedirected));
            return;
        }

        // the lookup runs while the chain goes on (peek, decision, certificate, TLS handshake, request); the steps that
        // answer the client wait for it first (ProxyConnectionFeature.HoldForAttributionAsync)
        connection.Features.Set(new ProxyConnectionFeature(destination, isTls, origin, attributionWait));
        await next(connection).ConfigureAwait(false);
    }

    private static IPAddress Unmap(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    [LoggerMessage(Level = LogLevel.Warning, Message = "refused a connection to proxy port {Port}: it was not redirected by the firewall")]
    private static partial void LogNotRedirected(ILogger logger, int port);
}
