using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// The addresses of an intercepted connection's name, asked for as soon as the policy allowed its SNI, while the
/// client's TLS handshake is still running. The connection's first request uses them — the destination check and, when
/// a new upstream connection is needed, the connector — instead of asking the same resolver again after the request
/// arrived. The answer comes from the proxy's own resolver, like any other: only when it was asked changes, and it is
/// used for that one name and that first request only (a later request asks afresh). Nothing is sent upstream early.
/// </summary>
internal sealed class EarlyResolution
{
    private EarlyResolution(string host, Task<IReadOnlyList<IPAddress>?> addresses)
    {
        Host = host;
        Addresses = addresses;
    }

    /// <summary>The name asked for.</summary>
    public string Host { get; }

    /// <summary>The name's addresses; null when the lookup failed (the caller resolves as usual and reports that).</summary>
    public Task<IReadOnlyList<IPAddress>?> Addresses { get; }

    /// <summary>Starts the lookup; null for an address literal (nothing to resolve).</summary>
    public static EarlyResolution? Start(IUpstreamResolver resolver, string host) =>
        AddressLiteral.TryParse(host, out _) ? null : new EarlyResolution(host, ResolveAsync(resolver, host));

    /// <summary>True when this lookup was for <paramref name="host"/>.</summary>
    public bool IsFor(string host) => string.Equals(Host, host, StringComparison.OrdinalIgnoreCase);

    /// <summary>The early answer for <paramref name="host"/> when there is one, else a fresh lookup.</summary>
    public static async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(EarlyResolution? early, IUpstreamResolver resolver, string host, CancellationToken cancellationToken)
    {
        if (early is not null && early.IsFor(host) && await early.Addresses.WaitAsync(cancellationToken).ConfigureAwait(false) is { } known)
        {
            return known;
        }

        return await resolver.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<IPAddress>?> ResolveAsync(IUpstreamResolver resolver, string host)
    {
        try
        {
            return await resolver.ResolveAsync(host, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException or OperationCanceledException)
        {
            return null;
        }
    }
}
