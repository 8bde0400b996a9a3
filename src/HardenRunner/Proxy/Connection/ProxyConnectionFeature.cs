using System.Net;
using HardenRunner.Monitoring.Network;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// What the connection chain learned about one client connection; set on the connection's features and read by the
/// next steps and by the HTTP handler (Kestrel exposes connection features to every request on the connection).
/// </summary>
internal sealed class ProxyConnectionFeature(IPEndPoint originalDestination, bool isTls, PendingAttribution? attribution = null, TimeSpan attributionWait = default)
{
    private int _requests;
    private Task? _hold;

    /// <summary>Where the client was going (IPv4-mapped addresses unmapped).</summary>
    public IPEndPoint OriginalDestination { get; } = originalDestination;

    /// <summary>
    /// The process and step of the client (looked up once, started at accept and running while the connection goes on);
    /// null when no attributor is configured.
    /// </summary>
    public PendingAttribution? Attribution { get; } = attribution;

    /// <summary>True on the HTTPS listener.</summary>
    public bool IsTls { get; } = isTls;

    /// <summary>The peeked ClientHello (TLS listener only; null until the peek completes or when it failed).</summary>
    public ClientHelloInfo? Hello { get; set; }

    /// <summary>The validated SNI of an intercepted connection: the only name its requests may address.</summary>
    public string? ServerName => Hello?.ServerName;

    /// <summary>The peek's outcome.</summary>
    public ClientHelloResult Peek { get; set; }

    /// <summary>How many bytes had arrived when the peek ended.</summary>
    public long PeekedBytes { get; set; }

    /// <summary>The SNI's addresses, asked for while the TLS handshake runs (intercepted connections with an allowed SNI).</summary>
    public Upstream.EarlyResolution? EarlyResolution { get; set; }

    /// <summary>The upstream connection opened while the TLS handshake runs (see Upstream.EarlyUpstream); null when none was needed.</summary>
    public Upstream.EarlyUpstream? EarlyUpstream { get; set; }

    /// <summary>The last name whose addresses were compared with the original destination (see Upstream.DestinationCheck).</summary>
    public string? CheckedHost { get; set; }

    /// <summary>Requests seen on this connection (an intercepted connection with none is recorded once, on close).</summary>
    public int Requests => _requests;

    /// <summary>The address as events record it.</summary>
    public string Address => OriginalDestination.Address.ToString();

    public void CountRequest() => Interlocked.Increment(ref _requests);

    /// <summary>
    /// Completes when the client's process lookup has ended, or at most the attribution wait after the first call
    /// (one bound per connection, shared by every caller: a lookup slower than that goes on in the background and the
    /// connection's events are still published when it ends). Awaited wherever the proxy is about to answer the client
    /// for the first time — a TLS alert, a splice, a 403 or any other response: until then the client waits and its
    /// socket is still there to be found. Nothing the proxy decides depends on it.
    /// </summary>
    public Task HoldForAttributionAsync()
    {
        if (Attribution is not { IsCompleted: false } pending || attributionWait <= TimeSpan.Zero)
        {
            return Task.CompletedTask;
        }

        var hold = Volatile.Read(ref _hold);
        if (hold is null)
        {
            var started = pending.WaitAsync(attributionWait).AsTask();
            hold = Interlocked.CompareExchange(ref _hold, started, null) ?? started;
        }

        return hold;
    }
}
