using System.Net.Sockets;

namespace HardenRunner.Linux;

/// <summary>
/// The appliance's own upstream sockets carry this SO_MARK. The firewall accepts marked traffic and never redirects
/// it, so the appliance's upstream connections neither loop back into itself nor need a uid exemption (a sudo
/// process must not bypass the firewall).
/// </summary>
public static class SocketMark
{
    /// <summary>"HR" — chosen to stay clear of marks used by Docker, Kubernetes CNIs and systemd.</summary>
    public const int Appliance = 0x4852;

    private const int SolSocket = 1;
    private const int SoMark = 36;

    /// <summary>Marks a socket before it connects. Needs CAP_NET_ADMIN; throws SocketException otherwise.</summary>
    public static void Apply(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        socket.SetRawSocketOption(SolSocket, SoMark, BitConverter.GetBytes(Appliance));
    }
}
