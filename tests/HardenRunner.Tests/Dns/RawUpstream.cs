using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Tests.Dns;

/// <summary>A misbehaving UDP "resolver" on loopback: answers each datagram with whatever the test's function returns.</summary>
internal sealed class RawUpstream : IDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _received;

    public RawUpstream(Func<byte[], IEnumerable<byte[]>> reply)
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Endpoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = Task.Run(async () =>
        {
            var buffer = new byte[65535];
            while (!_stop.IsCancellationRequested)
            {
                SocketReceiveFromResult r;
                try
                {
                    r = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                    return;
                }

                Interlocked.Increment(ref _received);
                foreach (var answer in reply(buffer[..r.ReceivedBytes]))
                {
                    await _socket.SendToAsync(answer, SocketFlags.None, r.RemoteEndPoint);
                }
            }
        });
    }

    public IPEndPoint Endpoint { get; }

    public int Received => Volatile.Read(ref _received);

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _loop.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
