using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using HardenRunner.Tls;

namespace HardenRunner.Tests.Tls;

/// <summary>
/// An HTTPS server on 127.0.0.1 that presents, per connection, the context the CA mints for the client's SNI (the
/// address when there is none), as the proxy does, and answers every request with "ok".
/// </summary>
internal sealed class LoopbackTlsServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly ICertificateAuthority _ca;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private LoopbackTlsServer(ICertificateAuthority ca)
    {
        _ca = ca;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Server names the clients sent ("" when none), in order.</summary>
    public ConcurrentQueue<string> ServerNames { get; } = new();

    public ConcurrentQueue<Exception> Failures { get; } = new();

    public static LoopbackTlsServer Start(ICertificateAuthority ca) => new(ca);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(15));
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(
                    (_, hello, _, _) =>
                    {
                        ServerNames.Enqueue(hello.ServerName);
                        var name = string.IsNullOrEmpty(hello.ServerName) ? "127.0.0.1" : hello.ServerName;
                        return ValueTask.FromResult(new SslServerAuthenticationOptions
                        {
                            ServerCertificateContext = _ca.GetServerContext(name),
                        });
                    },
                    null,
                    timeout.Token);
                var buffer = new byte[8192];
                var received = new StringBuilder();
                while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && received.Length < 65536)
                {
                    var n = await tls.ReadAsync(buffer, timeout.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    received.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }

                await tls.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray(), timeout.Token);
                await tls.ShutdownAsync();
            }
            catch (Exception e)
            {
                Failures.Enqueue(e);
            }
        }
    }
}
