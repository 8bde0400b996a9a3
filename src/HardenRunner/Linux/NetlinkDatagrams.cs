using System.Runtime.InteropServices;

namespace HardenRunner.Linux;

/// <summary>
/// What every netlink reader of the appliance does with its socket (the NFLOG reader, the proc connector): size the
/// receive buffer past the system limit where the process may, and wait for one datagram with a bounded poll.
/// </summary>
internal static unsafe class NetlinkDatagrams
{
    /// <summary>
    /// Asks for a receive buffer of <paramref name="bytes"/>: SO_RCVBUFFORCE (root may exceed <c>rmem_max</c>), else
    /// SO_RCVBUF (capped by the kernel). Best effort; returns what the kernel granted (it doubles the request for its
    /// bookkeeping), or 0 when it cannot be read.
    /// </summary>
    public static int SetReceiveBuffer(int fd, int bytes)
    {
        var size = bytes;
        if (LinuxInterop.SetSockOpt(fd, LinuxInterop.SolSocket, LinuxInterop.SoRcvbufForce, &size, sizeof(int)) != 0)
        {
            _ = LinuxInterop.SetSockOpt(fd, LinuxInterop.SolSocket, LinuxInterop.SoRcvbuf, &size, sizeof(int));
        }

        int granted = 0, length = sizeof(int);
        return LinuxInterop.GetSockOpt(fd, LinuxInterop.SolSocket, LinuxInterop.SoRcvbuf, &granted, &length) == 0 ? granted : 0;
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for a datagram on <paramref name="fd"/> and copies it into
    /// <paramref name="buffer"/>. Returns its length, 0 on timeout or interruption, or -1 when the kernel dropped
    /// messages because the socket buffer overflowed (ENOBUFS). Other errors throw the <see cref="IOException"/> that
    /// <paramref name="error"/> makes from the failed call's name and errno.
    /// </summary>
    public static int Receive(int fd, Span<byte> buffer, int timeoutMs, string what, Func<string, int, IOException> error)
    {
        var pfd = new LinuxInterop.PollFd { Fd = fd, Events = LinuxInterop.PollIn };
        var ready = LinuxInterop.Poll(&pfd, 1, timeoutMs);
        if (ready < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno == LinuxInterop.Eintr ? 0 : throw error($"poll({what})", errno);
        }

        if (ready == 0)
        {
            return 0;
        }

        fixed (byte* p = buffer)
        {
            var n = LinuxInterop.Recv(fd, p, (nuint)buffer.Length, LinuxInterop.MsgDontwait);
            if (n >= 0)
            {
                return (int)n;
            }

            var errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                LinuxInterop.Enobufs => -1,
                LinuxInterop.Eagain or LinuxInterop.Eintr => 0,
                _ => throw error($"recv({what})", errno),
            };
        }
    }
}
