using System.Net.Sockets;
using System.Text;

namespace HardenRunner.Control;

/// <summary>
/// The appliance's control socket: a Unix socket in the state directory, readable by root only (mode 0600 in a
/// 0700 directory). One request line per connection (<c>status</c>, <c>stop</c>, <c>env</c>), one JSON line back.
/// With <c>openToAllUsers</c> the socket is mode 0666 and the handler decides from the peer's credentials
/// (SO_PEERCRED) what a non-root caller may do (the GitHub Action's post step stopping with its stop token).
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<ControlRequest, CancellationToken, Task<string>> _handler;
    private readonly CancellationTokenSource _cts = new();
    private readonly Task _loop;

    public ControlServer(string socketPath, Func<string, CancellationToken, Task<string>> handler)
        : this(socketPath, (request, ct) => handler(request.Command, ct), openToAllUsers: false)
    {
    }

    public ControlServer(string socketPath, Func<ControlRequest, CancellationToken, Task<string>> handler, bool openToAllUsers)
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

        File.SetUnixFileMode(socketPath, openToAllUsers
            ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite
            : UnixFileMode.UserRead | UnixFileMode.UserWrite);
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
                if (command.Length > 128)
                {
                    command = "";
                }

                var reply = await _handler(PeerOf(client, command), _cts.Token).ConfigureAwait(false);
                var bytes = Encoding.UTF8.GetBytes(reply + "\n");
                await stream.WriteAsync(bytes, _cts.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException)
            {
                // a client that went away; nothing to do
            }
        }
    }

    /// <summary>The caller's pid and uid (SO_PEERCRED: struct ucred { pid, uid, gid }); -1 when unknown.</summary>
    private static ControlRequest PeerOf(Socket client, string command)
    {
        Span<byte> cred = stackalloc byte[12];
        try
        {
            if (client.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, cred) == 12)
            {
                return new ControlRequest(command, BitConverter.ToInt32(cred[..4]), BitConverter.ToInt32(cred[4..8]));
            }
        }
        catch (SocketException)
        {
        }

        return new ControlRequest(command, -1, -1);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "umask")]
    private static extern uint Umask(uint mask);
}

/// <summary>One control request: the command line and who sent it (kernel-verified peer credentials, -1 when unknown).</summary>
public sealed record ControlRequest(string Command, int PeerPid, int PeerUid);
