using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// Opens the proxy's upstream TCP connections. The address always comes from the proxy's own resolution of the name
/// (or is the name, for an address literal): the client's original destination is used only when it is one of the
/// name's addresses, so an allowed SNI or Host aimed at another IP never reaches that IP. Every socket is configured
/// (marked) before it binds, binds a source port outside the clients' ephemeral range when one is set, and connects
/// within the timeout.
/// </summary>
internal sealed class UpstreamConnector(
    IUpstreamResolver resolver,
    Action<Socket> configureSocket,
    PortRange? sourcePorts,
    TimeSpan connectTimeout)
{
    /// <summary>At most this many of a name's addresses are tried.</summary>
    public const int MaxAddresses = 4;

    /// <summary>At most this many source ports are tried per address when the port or the 4-tuple is in use.</summary>
    public const int MaxPortAttempts = 16;

    /// <summary>Connects to <paramref name="host"/> (a DNS name or an address literal) on <paramref name="port"/>.</summary>
    public async ValueTask<Socket> ConnectAsync(string host, int port, IPAddress? preferred, CancellationToken cancellationToken) =>
        await ConnectAsync(host, port, preferred, null, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Connects to <paramref name="host"/> on <paramref name="port"/>, using <paramref name="early"/>'s addresses when it
    /// was for this name (the connection's first request; see <see cref="EarlyResolution"/>).
    /// </summary>
    public async ValueTask<Socket> ConnectAsync(string host, int port, IPAddress? preferred, EarlyResolution? early, CancellationToken cancellationToken)
    {
        var addresses = await ResolveAsync(host, early, cancellationToken).ConfigureAwait(false);
        var candidates = Order(addresses, preferred);
        if (candidates.Count == 0)
        {
            throw new UpstreamConnectException($"{host} has no addresses");
        }

        List<Exception>? errors = null;
        foreach (var address in candidates.Take(MaxAddresses))
        {
            try
            {
                return await ConnectAsync(new IPEndPoint(address, port), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or UpstreamConnectException)
            {
                (errors ??= []).Add(e);
            }
        }

        throw new UpstreamConnectException($"cannot connect to {host}:{port}", new AggregateException(errors!));
    }

    /// <summary>Connects to one endpoint (also used to splice to an allowed destination address).</summary>
    public async ValueTask<Socket> ConnectAsync(IPEndPoint endpoint, CancellationToken cancellationToken)
    {
        var attempts = sourcePorts is null ? 1 : MaxPortAttempts;
        for (var attempt = 1; ; attempt++)
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                configureSocket(socket);
                if (sourcePorts is { } range)
                {
                    // SO_REUSEADDR lets sockets to different destinations share a source port; connect() still fails
                    // (EADDRNOTAVAIL) when the full 4-tuple is taken, and then another port is tried.
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                    var any = endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any;
                    socket.Bind(new IPEndPoint(any, Random.Shared.Next(range.First, range.Last + 1)));
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(connectTimeout);
                try
                {
                    await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new UpstreamConnectException($"connecting to {endpoint} timed out after {connectTimeout.TotalSeconds:0.#} s");
                }

                return socket;
            }
            catch (SocketException e) when (attempt < attempts && e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AddressNotAvailable)
            {
                socket.Dispose();
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    /// <summary>The name's addresses, the preferred one first when it is among them; never the preferred one otherwise.</summary>
    internal static List<IPAddress> Order(IReadOnlyList<IPAddress> addresses, IPAddress? preferred)
    {
        var list = new List<IPAddress>(addresses.Count);
        foreach (var a in addresses)
        {
            var u = Unmap(a);
            if (!list.Contains(u))
            {
                list.Add(u);
            }
        }

        if (preferred is not null)
        {
            var p = Unmap(preferred);
            var i = list.IndexOf(p);
            if (i > 0)
            {
                list.RemoveAt(i);
                list.Insert(0, p);
            }
        }

        return list;
    }

    internal static IPAddress Unmap(IPAddress a) => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a;

    private async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string host, EarlyResolution? early, CancellationToken cancellationToken)
    {
        if (AddressLiteral.TryParse(host, out var literal))
        {
            return [literal];
        }

        try
        {
            return await EarlyResolution.ResolveAsync(early, resolver, host, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException)
        {
            throw new UpstreamConnectException($"cannot resolve {host}: {e.Message}", e);
        }
    }
}
