using System.Net;

namespace HardenRunner.Proxy;

/// <summary>
/// How the proxy finds the addresses of the name it forwards to. The upstream connection goes to an address the
/// appliance resolved itself for that name, never blindly to the client's original destination.
/// </summary>
public interface IUpstreamResolver
{
    ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string hostName, CancellationToken cancellationToken);
}
