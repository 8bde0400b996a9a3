using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HardenRunner.Hosting;

/// <summary>
/// One appliance per network namespace. The firewall table is per namespace, and a start applies it before anything
/// else (fail-closed), so a second appliance started beside a running one would replace the running one's policy.
/// The lock is a listening Unix socket in the abstract namespace, which Linux scopes to the network namespace: it
/// needs no file, and the kernel releases it when its process ends, however it ends (kill -9 included). A process
/// keeps it until it exits, so the runs of one service process (one after another) share it. The holder is named by
/// its pid (SO_PEERCRED of a connection to it).
/// </summary>
public static class ApplianceInstanceLock
{
    private const string Name = "\0harden-runner/appliance";
    private static readonly Lock Gate = new();
    private static Socket? s_held;

    /// <summary>
    /// Takes the lock for this process (true at once when it already holds it); false when another process holds it,
    /// with <paramref name="holderPid"/> its pid when the kernel tells it (0 otherwise).
    /// </summary>
    public static bool TryAcquire(out int holderPid)
    {
        holderPid = 0;
        lock (Gate)
        {
            if (s_held is not null)
            {
                return true;
            }

            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                socket.Bind(new UnixDomainSocketEndPoint(Name));
                socket.Listen(16);
                s_held = socket;
                return true;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                socket.Dispose();
                holderPid = HolderPid();
                return false;
            }
        }
    }

    private static int HolderPid()
    {
        try
        {
            using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            probe.Connect(new UnixDomainSocketEndPoint(Name));
            Span<byte> credentials = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
            return probe.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, credentials) >= 4
                ? MemoryMarshal.Read<int>(credentials)
                : 0;
        }
        catch (SocketException)
        {
            return 0;
        }
    }
}
