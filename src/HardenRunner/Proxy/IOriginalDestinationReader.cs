using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Proxy;

/// <summary>Where a redirected connection was going before the firewall sent it to the proxy.</summary>
public interface IOriginalDestinationReader
{
    /// <summary>
    /// The destination the client asked for, or null when it cannot be read (then the connection is refused).
    /// <paramref name="socket"/> is the accepted socket; the reader must not read from or write to it.
    /// </summary>
    IPEndPoint? Read(Socket socket);
}
