using System.Runtime.InteropServices;
using HardenRunner.Linux;

namespace HardenRunner.Netfilter.Nflog;

/// <summary>
/// A NETLINK_NETFILTER socket bound to one NFLOG group (copy-packet mode). The socket belongs to the network
/// namespace of the thread that opens it. Not thread-safe: one reader thread uses it.
/// </summary>
public sealed unsafe class NflogSocket : IDisposable
{
    private const int ReceiveBufferBytes = 4 << 20;

    private int _fd;

    private NflogSocket(int fd) => _fd = fd;

    /// <summary>Opens a socket and binds <paramref name="group"/>; throws with the kernel's reason (e.g. the group is taken).</summary>
    public static NflogSocket Open(ushort group, int copyRange)
    {
        var fd = LinuxInterop.Socket(LinuxInterop.AfNetlink, LinuxInterop.SockRaw | LinuxInterop.SockCloexec, LinuxInterop.NetlinkNetfilter);
        if (fd < 0)
        {
            throw Error("socket(AF_NETLINK, NETLINK_NETFILTER)");
        }

        var socket = new NflogSocket(fd);
        try
        {
            var addr = new LinuxInterop.SockaddrNl { Family = LinuxInterop.AfNetlink };
            if (LinuxInterop.Bind(fd, &addr, sizeof(LinuxInterop.SockaddrNl)) != 0)
            {
                throw Error("bind(netlink)");
            }

            _ = NetlinkDatagrams.SetReceiveBuffer(fd, ReceiveBufferBytes);

            socket.Send(NflogMessage.BuildBindRequest(group, copyRange, queueThreshold: 1, sequence: 1));
            socket.WaitForAck(group);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for a datagram. Returns its length, 0 on timeout, or -1 when the
    /// kernel reports that messages were dropped because the socket buffer overflowed (ENOBUFS).
    /// </summary>
    public int Receive(Span<byte> buffer, int timeoutMs) => NetlinkDatagrams.Receive(_fd, buffer, timeoutMs, "netlink", static (what, errno) => Error(what, errno));

    public void Dispose()
    {
        var fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0)
        {
            _ = LinuxInterop.Close(fd);
        }
    }

    private static IOException Error(string what, int? errno = null)
    {
        var e = errno ?? Marshal.GetLastPInvokeError();
        return new IOException($"{what} failed: {LinuxInterop.ErrorText(e)}");
    }

    private void Send(byte[] message)
    {
        fixed (byte* p = message)
        {
            if (LinuxInterop.Send(_fd, p, (nuint)message.Length, 0) != message.Length)
            {
                throw Error("send(netlink)");
            }
        }
    }

    private void WaitForAck(ushort group)
    {
        var buffer = new byte[8192];
        var deadline = Environment.TickCount64 + 5000;
        while (Environment.TickCount64 < deadline)
        {
            var n = Receive(buffer, 500);
            if (n <= 0)
            {
                continue;
            }

            NflogMessage.Parse(buffer.AsSpan(0, n), static _ => { }, out var error);
            if (error == 0)
            {
                return;
            }

            if (error is { } errno)
            {
                var hint = errno is 1 or 16
                    ? " (another socket already reads this NFLOG group — a second appliance, ulogd — or the process lacks CAP_NET_ADMIN)"
                    : "";
                throw new IOException($"binding NFLOG group {group} failed: {LinuxInterop.ErrorText(errno)}{hint}");
            }
        }

        throw new IOException($"binding NFLOG group {group}: no answer from the kernel");
    }
}
