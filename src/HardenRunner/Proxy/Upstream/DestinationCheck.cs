using System.Net;
using System.Net.Sockets;
using HardenRunner.Proxy.Connection;
using HardenRunner.Proxy.Events;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// Notices a client that aimed a name at an address that is not one of the name's own (an allowed SNI or Host sent to
/// an attacker's IP). The proxy never connects there anyway (<see cref="UpstreamConnector"/>); this records a
/// <c>sni-mismatch</c> detection, once per connection and name. Resolution failures are left to the forwarding step.
/// </summary>
internal sealed class DestinationCheck(IUpstreamResolver resolver, ProxyEventRecorder events)
{
    public async ValueTask CheckAsync(ProxyConnectionFeature connection, string host, CancellationToken cancellationToken)
    {
        if (string.Equals(connection.CheckedHost, host, StringComparison.Ordinal))
        {
            return;
        }

        connection.CheckedHost = host;
        var destination = connection.OriginalDestination.Address;
        IReadOnlyList<IPAddress> addresses;
        if (AddressLiteral.TryParse(host, out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                addresses = await EarlyResolution.ResolveAsync(connection.EarlyResolution, resolver, host, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or TimeoutException or OperationCanceledException)
            {
                return;
            }
        }

        if (addresses.Count > 0 && !addresses.Any(a => UpstreamConnector.Unmap(a).Equals(destination)))
        {
            events.DestinationMismatch(connection, host);
        }
    }
}
