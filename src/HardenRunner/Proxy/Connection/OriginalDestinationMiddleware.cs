using System.Net;
using HardenRunner.Proxy.Events;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// Step 1 of the chain: where was the client going? Reads the original destination from the accepted socket. A
/// connection whose destination cannot be read, or whose destination is the proxy's own listening address (someone
/// connected to the proxy port directly instead of being redirected), is refused: the proxy never guesses a destination.
/// </summary>
internal sealed partial class OriginalDestinationMiddleware(IOriginalDestinationReader reader, bool isTls, ProxyEventRecorder events, ILogger logger)
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

        if (destination is null || (local is not null && destination.Port == local.Port && destination.Address.Equals(Unmap(local.Address))))
        {
            LogNotRedirected(logger, local?.Port ?? 0);
            events.Unredirected(local is null ? null : Unmap(local.Address).ToString(), local?.Port ?? 0, isTls, RuleNotRedirected);
            connection.Abort(new ConnectionAbortedException(RuleNotRedirected));
            return;
        }

        connection.Features.Set(new ProxyConnectionFeature(destination, isTls));
        await next(connection).ConfigureAwait(false);
    }

    private static IPAddress Unmap(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    [LoggerMessage(Level = LogLevel.Warning, Message = "refused a connection to proxy port {Port}: it was not redirected by the firewall")]
    private static partial void LogNotRedirected(ILogger logger, int port);
}
