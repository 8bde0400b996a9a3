using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// Step 2 (HTTPS port): reads the ClientHello without consuming it (Kestrel's TlsListener technique: examine
/// everything while incomplete, then rewind to the start), so the TLS handshake or the splice that follows sees every
/// byte. Waits at most the configured time; reads at most <see cref="ClientHelloReader.MaxBufferedBytes"/>; parses only
/// when enough bytes for the next record have arrived, so a client that dribbles bytes cannot make it re-parse each one.
/// </summary>
internal sealed class ClientHelloPeekMiddleware(TimeSpan timeout)
{
    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection => InvokeAsync(connection, next);

    private async Task InvokeAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var feature = connection.Features.Get<ProxyConnectionFeature>()
            ?? throw new InvalidOperationException("the original destination step must run first");
        var (result, bytes) = await PeekAsync(connection.Transport.Input, timeout, connection.ConnectionClosed).ConfigureAwait(false);
        feature.Peek = result;
        feature.PeekedBytes = bytes;
        if (result.Status == ClientHelloStatus.Complete)
        {
            feature.Hello = result.Hello;
        }

        await next(connection).ConfigureAwait(false);
    }

    internal static async Task<(ClientHelloResult Result, long Bytes)> PeekAsync(PipeReader input, TimeSpan timeout, CancellationToken closed)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(closed);
        cts.CancelAfter(timeout);
        long needed = 1;
        long seen = 0;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await input.ReadAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return (new ClientHelloResult(ClientHelloStatus.NeedMore, 0, null, $"no complete ClientHello within {timeout.TotalSeconds:0.#} s"), seen);
            }

            var buffer = read.Buffer;
            seen = buffer.Length;
            if (buffer.Length >= needed)
            {
                var result = ClientHelloReader.Read(buffer);
                if (result.Status != ClientHelloStatus.NeedMore)
                {
                    input.AdvanceTo(buffer.Start);
                    return (result, seen);
                }

                needed = result.Needed;
            }

            if (read.IsCompleted || read.IsCanceled)
            {
                input.AdvanceTo(buffer.Start);
                return (new ClientHelloResult(ClientHelloStatus.NeedMore, 0, null, "connection closed before the ClientHello was complete"), seen);
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
