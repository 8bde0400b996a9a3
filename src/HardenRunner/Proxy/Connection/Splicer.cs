using System.IO.Pipelines;
using System.Net.Sockets;
using HardenRunner.Proxy.Upstream;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// Copies a connection byte for byte to an upstream (tls.passthrough hosts; allowed or audited connections that carry
/// no name). The upstream is the name's own address (the original destination only when it is one of them) or, with no
/// name, the destination address the policy decision was about. Each direction is half-closed when its source ends;
/// an error in either direction ends both.
/// </summary>
internal sealed partial class Splicer(UpstreamConnector connector, DestinationCheck destinationCheck, ILogger logger)
{
    /// <summary>How long the other direction may go on after one side has finished cleanly.</summary>
    public static readonly TimeSpan HalfCloseGrace = TimeSpan.FromSeconds(60);

    public async Task SpliceAsync(ConnectionContext connection, ProxyConnectionFeature feature, string? host)
    {
        var destination = feature.OriginalDestination;
        if (host is not null)
        {
            await destinationCheck.CheckAsync(feature, host, connection.ConnectionClosed).ConfigureAwait(false);
        }

        Socket upstream;
        try
        {
            upstream = host is null
                ? await connector.ConnectAsync(destination, connection.ConnectionClosed).ConfigureAwait(false)
                : await connector.ConnectAsync(host, destination.Port, destination.Address, connection.ConnectionClosed).ConfigureAwait(false);
        }
        catch (Exception e) when (e is UpstreamConnectException or SocketException or OperationCanceledException)
        {
            LogConnectFailed(logger, host ?? destination.Address.ToString(), destination.Port, e.Message);
            return;
        }

        using var stream = new NetworkStream(upstream, ownsSocket: true);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        var toUpstream = PumpAsync(async ct =>
        {
            await input.CopyToAsync(stream, ct).ConfigureAwait(false);
            upstream.Shutdown(SocketShutdown.Send);
        }, cts.Token);
        var toClient = PumpAsync(async ct =>
        {
            await stream.CopyToAsync(output, ct).ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
        }, cts.Token);

        var first = await Task.WhenAny(toUpstream, toClient).ConfigureAwait(false);
        if (!await first.ConfigureAwait(false))
        {
            await cts.CancelAsync().ConfigureAwait(false);
        }
        else
        {
            cts.CancelAfter(HalfCloseGrace);
        }

        await Task.WhenAll(toUpstream, toClient).ConfigureAwait(false);
    }

    /// <summary>Runs one direction; true when it ended cleanly, false on error or cancellation.</summary>
    private static async Task<bool> PumpAsync(Func<CancellationToken, Task> pump, CancellationToken cancellationToken)
    {
        try
        {
            await pump(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or ConnectionResetException or ConnectionAbortedException or InvalidOperationException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "splice to {Host}:{Port} failed: {Reason}")]
    private static partial void LogConnectFailed(ILogger logger, string host, int port, string reason);
}
