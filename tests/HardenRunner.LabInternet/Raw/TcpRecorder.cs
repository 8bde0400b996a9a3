using System.Net;
using System.Net.Sockets;
using HardenRunner.Lab.Contract;
using HardenRunner.LabInternet.Logging;

namespace HardenRunner.LabInternet.Raw;

/// <summary>
/// Raw TCP listeners on every server address and configured port. Sends nothing; records what each connection
/// delivered once it ends (peer close, reset, 30 s idle, or 64 MiB).
/// </summary>
internal sealed class TcpRecorder : IDisposable
{
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);
    private const long MaxBytes = 64L << 20;

    private readonly List<Socket> _listeners = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly JsonLineWriter _log;

    private TcpRecorder(JsonLineWriter log) => _log = log;

    public static TcpRecorder Start(LabInternetConfig config, JsonLineWriter log)
    {
        var recorder = new TcpRecorder(log);
        try
        {
            foreach (var server in config.Servers)
            {
                foreach (var address in server.Addresses.Select(IPAddress.Parse))
                {
                    foreach (var port in config.TcpPorts)
                    {
                        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                        recorder._listeners.Add(listener);
                        listener.Bind(new IPEndPoint(address, port));
                        listener.Listen(128);
                        _ = recorder.AcceptLoopAsync(listener, server.Name);
                    }
                }
            }

            return recorder;
        }
        catch
        {
            recorder.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener, string server)
    {
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = RecordAsync(client, server, token);
        }
    }

    private async Task RecordAsync(Socket client, string server, CancellationToken token)
    {
        using var _ = client;
        var opened = DateTimeOffset.UtcNow;
        var local = (IPEndPoint)client.LocalEndPoint!;
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        var payload = new Payload();
        var buffer = new byte[64 * 1024];
        try
        {
            while (payload.Length < MaxBytes)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(token);
                idle.CancelAfter(IdleTimeout);
                var read = await client.ReceiveAsync(buffer, SocketFlags.None, idle.Token);
                if (read == 0)
                {
                    break;
                }

                payload.Add(buffer.AsSpan(0, read));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // reset, idle or shutdown: record what arrived
        }

        _log.Write(new TcpConnectionRecord(
            opened,
            DateTimeOffset.UtcNow,
            server,
            Payload.Format(local.Address),
            local.Port,
            Payload.Format(remote.Address),
            remote.Port,
            payload.Length,
            payload.PreviewText,
            payload.PreviewBase64));
    }
}
