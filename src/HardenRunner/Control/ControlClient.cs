using System.Net.Sockets;
using System.Text;

namespace HardenRunner.Control;

/// <summary>Talks to a running appliance through its control socket.</summary>
public static class ControlClient
{
    public const string SocketFileName = "control.sock";

    /// <summary>Sends one command; null when no appliance answers (no socket, refused, timed out).</summary>
    public static async Task<string?> SendAsync(string stateDir, string command, TimeSpan timeout, CancellationToken ct = default)
    {
        var path = Path.Combine(stateDir, SocketFileName);
        if (!File.Exists(path))
        {
            return null;
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cts.Token).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), cts.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return await reader.ReadLineAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException)
        {
            return null;
        }
    }
}
