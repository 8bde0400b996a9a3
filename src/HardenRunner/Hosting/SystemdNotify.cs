using System.Net.Sockets;
using System.Text;

namespace HardenRunner.Hosting;

/// <summary>
/// The systemd notification protocol (<c>Type=notify</c>): one datagram of <c>KEY=value</c> lines to the Unix socket
/// named by <c>$NOTIFY_SOCKET</c> (a leading '@' is the abstract namespace). Without the variable nothing is sent.
/// Written here because the generic host's systemd package is not among the packages this project may use; the
/// protocol is a single sendto.
/// </summary>
public static class SystemdNotify
{
    public const string SocketVariable = "NOTIFY_SOCKET";

    /// <summary>Sends the state lines; false when there is no socket or the send failed (never throws).</summary>
    public static bool Send(string? socketPath, params string[] lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (string.IsNullOrEmpty(socketPath) || lines.Length == 0)
        {
            return false;
        }

        // the protocol's values are single lines
        if (lines.Any(l => l.Contains('\n', StringComparison.Ordinal) || !l.Contains('=', StringComparison.Ordinal)))
        {
            throw new ArgumentException("each notification is one KEY=value line", nameof(lines));
        }

        var path = socketPath[0] == '@' ? "\0" + socketPath[1..] : socketPath;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            socket.Send(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Sends to <c>$NOTIFY_SOCKET</c>.</summary>
    public static bool Notify(params string[] lines) => Send(Environment.GetEnvironmentVariable(SocketVariable), lines);
}
