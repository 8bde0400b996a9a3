using System.Net.Sockets;
using System.Text;

namespace HardenRunner.Control;

/// <summary>
/// The appliance's control socket: a Unix socket in the state directory, readable by root only (mode 0600 in a
/// 0700 directory). One request line per connection (<c>status</c>, <c>stop</c>, <c>env</c>), one JSON line back.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<string, CancellationToken, Task<string>> _handler;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;

    public ControlServer(string socketPath, Func<string, CancellationToken, Task<string>> handler)
    {
        _handler = handler;
        SocketPath = socketPath;
        if (File.Exists(socketPath))
        {
            File.Delete(socketPath); // a stale socket from a killed appliance
        }

        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var oldMask = Umask(0x7F); // 0177: the socket is created rw for root only
        try
        {
            _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        }
        finally
        {
            Umask(oldMask);
        }

        File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _listener.Listen(16);
        _loop = Task.Run(AcceptLoopAsync);
    }

    public string SocketPath { get; }

    public async ValueTask DisposeAsync()
    {
        await _cts.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException)
        {
        }

        _cts.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            try
            {
                await using var stream = new NetworkStream(client, ownsSocket: false);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                timeout.CancelAfter(TimeSpan.FromSeconds(5));
                var line = await reader.ReadLineAsync(timeout.Token).ConfigureAwait(false);
                var command = (line ?? "").Trim();
                if (command.Length > 64)
                {
                    command = "";
                }

                var reply = await _handler(command, _cts.Token).ConfigureAwait(false);
                var bytes = Encoding.UTF8.GetBytes(reply + "\n");
                await stream.WriteAsync(bytes, _cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // a client that went away; nothing to do
            }
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "umask")]
    private static extern uint Umask(uint mask);
}
