using System.Runtime.InteropServices;
using HardenRunner.Linux;

namespace HardenRunner.Monitoring;

/// <summary>
/// A NETLINK_CONNECTOR socket subscribed to the kernel's process events (fork, exec, uid, ptrace, exit...).
/// The connector exists only in the initial network namespace: opened anywhere else the kernel refuses the
/// subscription (ECONNREFUSED). <see cref="Open"/> can create the socket on a short-lived thread that first enters
/// a given namespace (e.g. the host's). Not thread-safe: one reader thread uses it.
/// </summary>
internal sealed unsafe class ProcConnectorSocket : IDisposable
{
    private readonly Queue<byte[]> _early = new();
    private int _fd;

    private ProcConnectorSocket(int fd) => _fd = fd;

    /// <summary>
    /// Opens, binds and subscribes. Throws <see cref="IOException"/> with the kernel's reason when the connector
    /// cannot be used here (not root, not the initial network namespace, kernel without CONFIG_PROC_EVENTS).
    /// </summary>
    /// <param name="receiveBufferBytes">Socket buffer; bursts of exec/exit events queue here while the reader works.</param>
    /// <param name="networkNamespace">Namespace path to create the socket in; null for the caller's.</param>
    public static ProcConnectorSocket Open(int receiveBufferBytes, string? networkNamespace = null)
    {
        int fd;
        if (networkNamespace is null)
        {
            fd = CreateSocket();
        }
        else
        {
            using var thread = new DedicatedThread("hr-proc-connector-open", networkNamespace);
            fd = thread.InvokeAsync(CreateSocket).GetAwaiter().GetResult();
        }

        var socket = new ProcConnectorSocket(fd);
        try
        {
            socket.Configure(receiveBufferBytes);
            socket.Subscribe();
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Size the kernel granted for the receive buffer (it doubles the request for bookkeeping).</summary>
    public int ReceiveBufferBytes { get; private set; }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for a datagram. Returns its length, 0 on timeout, or -1 when the
    /// kernel dropped messages because the buffer overflowed (ENOBUFS; the sequence numbers tell how many).
    /// </summary>
    public int Receive(Span<byte> buffer, int timeoutMs)
    {
        if (_early.TryDequeue(out var early))
        {
            early.CopyTo(buffer);
            return early.Length;
        }

        return NetlinkDatagrams.Receive(_fd, buffer, timeoutMs, "proc connector", static (what, errno) => Error(what, errno));
    }

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            // best effort: tell the kernel we stop listening (it keeps a global listener count)
            var message = ProcConnectorMessage.BuildControl(ProcConnectorMessage.McastIgnore, 2);
            fixed (byte* p = message)
            {
                _ = LinuxInterop.Send(fd, p, (nuint)message.Length, LinuxInterop.MsgDontwait);
            }

            _ = LinuxInterop.Close(fd);
        }
    }

    private static int CreateSocket()
    {
        const int SockDgram = 2;
        var fd = LinuxInterop.Socket(LinuxInterop.AfNetlink, SockDgram | LinuxInterop.SockCloexec, MonitorInterop.NetlinkConnector);
        if (fd < 0)
        {
            throw Error("socket(AF_NETLINK, NETLINK_CONNECTOR)");
        }

        var addr = new LinuxInterop.SockaddrNl { Family = LinuxInterop.AfNetlink, Groups = ProcConnectorMessage.CnIdxProc };
        if (LinuxInterop.Bind(fd, &addr, sizeof(LinuxInterop.SockaddrNl)) != 0)
        {
            var e = Error("bind(NETLINK_CONNECTOR, CN_IDX_PROC)");
            _ = LinuxInterop.Close(fd);
            throw e;
        }

        return fd;
    }

    private static IOException Error(string what, int? errno = null)
    {
        var e = errno ?? Marshal.GetLastPInvokeError();
        var hint = e switch
        {
            MonitorInterop.Econnrefused => " (the proc connector exists only in the initial network namespace; run the monitor there or give it that namespace)",
            1 or 13 => " (needs root / CAP_NET_ADMIN in the initial user namespace)",
            93 or 97 => " (kernel without CONFIG_CONNECTOR / CONFIG_PROC_EVENTS)",
            _ => "",
        };
        return new IOException($"{what} failed: {LinuxInterop.ErrorText(e)}{hint}");
    }

    private void Configure(int receiveBufferBytes)
    {
        ReceiveBufferBytes = NetlinkDatagrams.SetReceiveBuffer(_fd, receiveBufferBytes);
    }

    private void Subscribe()
    {
        var ack = (uint)Random.Shared.Next(1 << 20, int.MaxValue);
        var message = ProcConnectorMessage.BuildControl(ProcConnectorMessage.McastListen, 1, ack);
        fixed (byte* p = message)
        {
            if (LinuxInterop.Send(_fd, p, (nuint)message.Length, 0) != message.Length)
            {
                throw Error("subscribing to the proc connector (PROC_CN_MCAST_LISTEN)");
            }
        }

        // The kernel acknowledges (to every listener) with a PROC_EVENT_NONE carrying an errno and our ack + 1;
        // events may arrive first and are kept.
        var buffer = new byte[8192];
        var deadline = Environment.TickCount64 + 2000;
        while (Environment.TickCount64 < deadline)
        {
            var n = Receive(buffer, 200);
            if (n <= 0)
            {
                continue;
            }

            int? ackError = null;
            ProcConnectorMessage.Parse(buffer.AsSpan(0, n), e =>
            {
                if (e.Kind == ProcEventKind.None && e.Ack == ack + 1)
                {
                    ackError = e.Pid; // ack.err is the first field of the union
                }
            });
            if (ackError is null)
            {
                _early.Enqueue(buffer.AsSpan(0, n).ToArray()); // events that raced the acknowledgement
                if (_early.Count > 4096)
                {
                    break;
                }

                continue;
            }

            if (ackError != 0)
            {
                throw Error("subscribing to the proc connector", ackError);
            }

            return;
        }

        // No acknowledgement: events flowing is proof enough; silence is not.
        if (_early.Count == 0)
        {
            throw new IOException("the proc connector neither acknowledged the subscription nor sent events within 2 s");
        }
    }
}
