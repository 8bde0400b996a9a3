using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using HardenRunner.Lab.Contract;
using HardenRunner.LabInternet.Logging;

namespace HardenRunner.LabInternet.Raw;

/// <summary>
/// UDP sockets on every server address and configured port (bound per address so replies leave from the address
/// the client sent to). Records each datagram and answers it with <c>lab:{server}:{port}</c>.
/// </summary>
internal sealed class UdpRecorder : IDisposable
{
    private readonly List<Socket> _sockets = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly JsonLineWriter _log;

    private UdpRecorder(JsonLineWriter log) => _log = log;

    public static UdpRecorder Start(LabInternetConfig config, JsonLineWriter log)
    {
        var recorder = new UdpRecorder(log);
        try
        {
            foreach (var server in config.Servers)
            {
                foreach (var address in server.Addresses.Select(IPAddress.Parse))
                {
                    foreach (var port in config.UdpPorts)
                    {
                        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                        recorder._sockets.Add(socket);
                        socket.Bind(new IPEndPoint(address, port));
                        _ = recorder.ReceiveLoopAsync(socket, server.Name);
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
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _stop.Dispose();
    }

    private async Task ReceiveLoopAsync(Socket socket, string server)
    {
        var token = _stop.Token;
        var local = (IPEndPoint)socket.LocalEndPoint!;
        var any = new IPEndPoint(local.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        var reply = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"lab:{server}:{local.Port}\n"));
        var buffer = new byte[65536];
        while (!token.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // e.g. ICMP port unreachable reported on the socket from an earlier reply
            }

            var remote = (IPEndPoint)received.RemoteEndPoint;
            var payload = new Payload();
            payload.Add(buffer.AsSpan(0, received.ReceivedBytes));
            _log.Write(new UdpDatagramRecord(
                DateTimeOffset.UtcNow,
                server,
                Payload.Format(local.Address),
                local.Port,
                Payload.Format(remote.Address),
                remote.Port,
                received.ReceivedBytes,
                payload.PreviewText,
                payload.PreviewBase64));

            try
            {
                await socket.SendToAsync(reply, SocketFlags.None, remote, token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // the reply is a courtesy; the record is what matters
            }
        }
    }
}
