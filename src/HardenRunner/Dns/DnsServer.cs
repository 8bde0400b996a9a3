using System.Net;
using System.Net.Sockets;
using HardenRunner.Events;
using HardenRunner.Monitoring.Network;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Dns;

/// <summary>
/// The appliance's DNS server: UDP and TCP (RFC 7766 two-octet framing) on each listen endpoint, every record type
/// and EDNS passed through as bytes. Policy, forwarding and rewriting live in <see cref="DnsQueryHandler"/>; this
/// class owns the sockets, the concurrency limits and the lifetime. No packet, however malformed, stops a loop.
/// With <see cref="DnsServerOptions.Attributor"/> it starts, for every query, the lookup of the client's process the
/// moment the datagram (or TCP connection) arrives, while the client's socket surely exists; the answer never waits.
/// </summary>
public sealed class DnsServer : IAsyncDisposable
{
    private const int ReceiveBufferBytes = 4 * 1024 * 1024;
    private const int BindAttempts = 20;
    private static readonly TimeSpan UdpReceivePoll = TimeSpan.FromMilliseconds(250);

    private readonly DnsServerOptions _options;
    private readonly DnsQueryHandler _handler;
    private readonly DnsCounters _counters = new();
    private readonly ILogger? _logger;
    private readonly AttributionQueue? _attribution;
    private PendingAttribution? _self;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _loops = [];
    private readonly List<IPEndPoint> _localEndpoints = [];
    private readonly Lock _tasksLock = new();
    private readonly HashSet<Task> _inFlight = [];
    private int _forwarding;
    private int _tcpConnections;
    private int _started;
    private int _disposed;

    public DnsServer(DnsServerOptions options, PolicyEngine policy, IResolvedAddressSink sink, IEventSink events, ILogger? logger = null, TimeProvider? time = null)
        : this(options, new ActivePolicy(policy ?? throw new ArgumentNullException(nameof(policy))), sink, events, logger, time)
    {
    }

    /// <summary>A server that decides every query with the policy in force in <paramref name="policy"/> (switchable; see <see cref="ReallowCachedAsync"/>).</summary>
    public DnsServer(DnsServerOptions options, ActivePolicy policy, IResolvedAddressSink sink, IEventSink events, ILogger? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(events);
        if (options.ListenEndpoints.Count == 0)
        {
            throw new ArgumentException("the DNS server needs at least one listen endpoint", nameof(options));
        }

        _options = options;
        _logger = logger;
        var forwarder = new UpstreamForwarder(options.Upstreams, options.ConfigureUpstreamSocket, options.UpstreamAttemptTimeout);
        _handler = new DnsQueryHandler(options, policy, forwarder, sink, events, _counters, time ?? TimeProvider.System, logger);
        _attribution = options.Attributor is { } attributor ? new AttributionQueue(attributor, "dns") : null;
    }

    /// <summary>The endpoints actually bound (with the port chosen when the options said 0), UDP and TCP alike.</summary>
    public IReadOnlyList<IPEndPoint> LocalEndpoints => _localEndpoints;

    public DnsServerStats Stats => _counters.Snapshot();

    /// <summary>Responses in the cache now (expired ones included until they are next looked up or evicted).</summary>
    public int CachedResponses => _handler.Cache?.Count ?? 0;

    /// <summary>
    /// The addresses of <paramref name="name"/> for record <paramref name="type"/> (1 = A, 28 = AAAA) from a live cached
    /// answer to any client's query, without a query and without an event; null when none is cached (the caller asks
    /// the server). An empty list: the name has no such address (a live NXDOMAIN or empty answer).
    /// </summary>
    public IReadOnlyList<IPAddress>? CachedAddresses(string name, ushort type)
    {
        var cache = _handler.Cache;
        return cache is not null && cache.TryGetAddresses(name, type, cache.Now, out var addresses) ? addresses : null;
    }

    /// <summary>
    /// After the policy in force was replaced and the firewall's allow sets emptied: forgets the cached answers and
    /// allows again the cached addresses of names the new policy allows (with its ports). Returns how many.
    /// </summary>
    public Task<int> ReallowCachedAsync(CancellationToken cancellationToken = default) => _handler.ReallowCachedAsync(cancellationToken);

    /// <summary>The process lookups behind query events (null without an attributor).</summary>
    public AttributionQueue? Attribution => _attribution;

    /// <summary>The appliance itself (its own resolver's queries), described once.</summary>
    private PendingAttribution Self() =>
        _self ??= PendingAttribution.FromResult(_options.Attributor?.AttributePid(Environment.ProcessId) ?? Monitoring.Attribution.Unknown);

    /// <summary>Binds every endpoint (UDP and TCP) and starts serving. Throws when a socket cannot be bound.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("the DNS server is already started");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var needsPort = _options.ListenEndpoints.Any(e => e.Port == 0);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                BindAll(needsPort);
                break;
            }
            catch (SocketException) when (needsPort && attempt < BindAttempts)
            {
                CloseSockets(); // the port picked for UDP was taken for TCP somewhere: pick another
            }
        }

        foreach (var upstream in _options.Upstreams)
        {
            if (_localEndpoints.Any(l => l.Port == upstream.Port && (l.Address.Equals(upstream.Address) || l.Address.Equals(IPAddress.Any) || l.Address.Equals(IPAddress.IPv6Any))))
            {
                CloseSockets();
                throw new InvalidOperationException($"the upstream resolver {upstream} is this DNS server itself: forwarding would loop");
            }
        }

        foreach (var socket in _sockets)
        {
            _loops.Add(socket.SocketType == SocketType.Dgram ? StartUdpLoop(socket) : Task.Run(() => TcpAcceptLoopAsync(socket), CancellationToken.None));
        }

        _logger?.LogInformation("DNS server listening on {Endpoints} (UDP and TCP), forwarding to {Upstreams}", string.Join(", ", _localEndpoints), string.Join(", ", _options.Upstreams));
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        CloseSockets();
        Task[] pending;
        lock (_tasksLock)
        {
            pending = [.. _loops, .. _inFlight];
        }

        await Task.WhenAny(Task.WhenAll(pending), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);

        // every query's event is published once its lookup ends: finish them before the sinks close
        _attribution?.Dispose();
        _stopping.Dispose();
    }

    private void BindAll(bool needsPort)
    {
        _localEndpoints.Clear();
        var port = 0;
        foreach (var configured in _options.ListenEndpoints)
        {
            var endpoint = needsPort && configured.Port == 0 ? new IPEndPoint(configured.Address, port) : configured;
            var udp = NewSocket(endpoint, SocketType.Dgram, ProtocolType.Udp);
            udp.ReceiveBufferSize = ReceiveBufferBytes;
            udp.Bind(endpoint);
            var bound = (IPEndPoint)udp.LocalEndPoint!;
            if (configured.Port == 0 && port == 0)
            {
                port = bound.Port;
            }

            var tcp = NewSocket(bound, SocketType.Stream, ProtocolType.Tcp);
            tcp.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            tcp.Bind(bound);
            tcp.Listen(256);
            _localEndpoints.Add(bound);
        }
    }

    private Socket NewSocket(IPEndPoint endpoint, SocketType type, ProtocolType protocol)
    {
        var socket = new Socket(endpoint.AddressFamily, type, protocol);
        lock (_tasksLock)
        {
            _sockets.Add(socket);
        }

        if (endpoint.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.DualMode = endpoint.Address.Equals(IPAddress.IPv6Any);
        }

        return socket;
    }

    private void CloseSockets()
    {
        lock (_tasksLock)
        {
            foreach (var s in _sockets)
            {
                s.Dispose();
            }

            _sockets.Clear();
        }
    }

    /// <summary>
    /// Starts the receive loop of a UDP socket on its own thread. The socket only ever sees blocking calls (receive
    /// here, sends here and from forwarding tasks): a cached or local answer costs one recvfrom and one sendto on
    /// this thread, with no thread-pool or epoll hop per datagram. A receive timeout lets the loop see the stop.
    /// </summary>
    private Task StartUdpLoop(Socket socket)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        socket.ReceiveTimeout = (int)UdpReceivePoll.TotalMilliseconds;
        var thread = new Thread(() =>
        {
            try
            {
                UdpLoop(socket);
            }
            finally
            {
                done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = "dns-udp " + socket.LocalEndPoint,
        };
        thread.Start();
        return done.Task;
    }

    private void UdpLoop(Socket socket)
    {
        var buffer = new byte[DnsWire.MaxMessageLength];
        var client = new SocketAddress(socket.AddressFamily);
        var local = (IPEndPoint)socket.LocalEndPoint!;

        // a query that reached this socket through the firewall's redirect was sent to port 53 (resolv.conf names
        // 127.0.0.1): a connected client socket (glibc's) is found exactly only by that peer, so it is tried first
        var sentTo = local.Port == DnsWire.Port ? local : new IPEndPoint(local.Address, DnsWire.Port);
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            int received;
            try
            {
                received = socket.ReceiveFrom(buffer, SocketFlags.None, client);
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                // the poll timeout; or e.g. a datagram larger than the buffer; ICMP errors are not reported on unconnected sockets
                if (e.SocketErrorCode is not (SocketError.TimedOut or SocketError.WouldBlock) && !token.IsCancellationRequested)
                {
                    _logger?.LogDebug("UDP receive: {Error}", e.SocketErrorCode);
                }

                continue;
            }

            try
            {
                HandleDatagram(socket, buffer.AsSpan(0, received), client, local, sentTo, token);
            }
            catch (Exception e)
            {
                _logger?.LogError(e, "UDP query from {Client} failed", ToEndPoint(client));
            }
        }
    }

    private void HandleDatagram(Socket socket, ReadOnlySpan<byte> packet, SocketAddress client, IPEndPoint local, IPEndPoint sentTo, CancellationToken token)
    {
        // started before anything else: a client answered from the cache may close its socket right after the answer
        PendingAttribution? origin = null;
        if (_attribution is not null && packet.Length >= DnsWire.HeaderLength && !DnsWire.IsResponse(packet))
        {
            var from = (IPEndPoint)ToEndPoint(client);
            origin = _options.OwnSockets?.Contains(from) == true ? Self() : _attribution.Udp(from, sentTo, local);
        }

        var action = _handler.Classify(packet, tcp: false, origin, out var response, out var query, out var verdict);
        if (action == PacketAction.Respond)
        {
            SendDatagram(socket, response!, client);
            return;
        }

        if (action != PacketAction.Forward)
        {
            return;
        }

        if (Interlocked.Increment(ref _forwarding) > _options.MaxInFlight)
        {
            Interlocked.Decrement(ref _forwarding);
            Interlocked.Increment(ref _counters.Overloaded);
            return;
        }

        var replyTo = new SocketAddress(client.Family, client.Size);
        client.Buffer.Span[..client.Size].CopyTo(replyTo.Buffer.Span);
        // started here, not queued to the thread pool: the upstream query leaves on this thread at once (a socket, a
        // connect and a send; nothing in it blocks), and only its answer continues on the pool. Queued, a client's A and
        // AAAA queries for a new name waited for a pool thread each, the second often for the first's whole resolution.
        Track(ForwardAsync(socket, packet.ToArray(), query, verdict, origin, replyTo, token));
    }

    private async Task ForwardAsync(Socket socket, byte[] packet, DnsQuery query, Verdict verdict, PendingAttribution? origin, SocketAddress replyTo, CancellationToken token)
    {
        try
        {
            var answer = await _handler.ResolveAsync(packet, query, verdict, tcp: false, origin, token).ConfigureAwait(false);
            SendDatagram(socket, answer, replyTo);
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            _logger?.LogError(e, "UDP query {Name} from {Client} failed", query.Name, ToEndPoint(replyTo));
        }
        finally
        {
            Interlocked.Decrement(ref _forwarding);
        }
    }

    private void SendDatagram(Socket socket, byte[] response, SocketAddress client)
    {
        try
        {
            socket.SendTo(response, SocketFlags.None, client);
        }
        catch (SocketException e)
        {
            _logger?.LogDebug("UDP send to {Client}: {Error}", ToEndPoint(client), e.SocketErrorCode);
        }
        catch (ObjectDisposedException)
        {
            // stopping
        }
    }

    private static readonly SoOriginalDestinationReader OriginalDestination = new();

    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(e))]
    private static IPEndPoint? Unmap(IPEndPoint? e) =>
        e is not null && e.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(e.Address.MapToIPv4(), e.Port) : e;

    private static EndPoint ToEndPoint(SocketAddress address) =>
        new IPEndPoint(address.Family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0).Create(address);

    private async Task TcpAcceptLoopAsync(Socket listener)
    {
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException e)
            {
                _logger?.LogDebug("TCP accept: {Error}", e.SocketErrorCode);
                continue;
            }

            if (Interlocked.Increment(ref _tcpConnections) > _options.MaxTcpConnections)
            {
                Interlocked.Decrement(ref _tcpConnections);
                Interlocked.Increment(ref _counters.Overloaded);
                connection.Dispose();
                continue;
            }

            Track(Task.Run(() => ServeTcpAsync(connection, token), CancellationToken.None));
        }
    }

    /// <summary>Serves one client connection: length-framed queries answered in order; a malformed message closes the connection.</summary>
    private async Task ServeTcpAsync(Socket connection, CancellationToken token)
    {
        connection.NoDelay = true;
        var lengthBytes = new byte[2];
        PendingAttribution? origin = null;
        if (_attribution is not null && connection.RemoteEndPoint is IPEndPoint client)
        {
            // once per connection: its client socket lives as long as the connection (a redirected one was aimed at
            // its original destination; one made to the server's address directly, at the server's own end)
            var local = connection.LocalEndPoint as IPEndPoint;
            origin = _attribution.Tcp(Unmap(client), OriginalDestination.Read(connection) ?? Unmap(local), Unmap(local));
        }

        try
        {
            while (!token.IsCancellationRequested)
            {
                byte[] packet;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(token))
                {
                    idle.CancelAfter(_options.TcpIdleTimeout);
                    if (!await TryReceiveExactlyAsync(connection, lengthBytes, idle.Token).ConfigureAwait(false))
                    {
                        return;
                    }

                    packet = new byte[DnsWire.ReadUInt16(lengthBytes, 0)];
                    if (!await TryReceiveExactlyAsync(connection, packet, idle.Token).ConfigureAwait(false))
                    {
                        Interlocked.Increment(ref _counters.Packets);
                        Interlocked.Increment(ref _counters.Malformed);
                        return;
                    }
                }

                var action = _handler.Classify(packet, tcp: true, origin, out var response, out var query, out var verdict);
                if (action == PacketAction.Drop)
                {
                    return;
                }

                if (action == PacketAction.Forward)
                {
                    response = await _handler.ResolveAsync(packet, query, verdict, tcp: true, origin, token).ConfigureAwait(false);
                }

                var framed = new byte[response!.Length + 2];
                DnsWire.WriteUInt16(framed, 0, (ushort)response.Length);
                response.CopyTo(framed, 2);
                await connection.SendAsync(framed, SocketFlags.None, token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
            // idle timeout, client gone, or stopping
        }
        catch (Exception e)
        {
            _logger?.LogError(e, "TCP client {Client} failed", connection.RemoteEndPoint);
        }
        finally
        {
            Interlocked.Decrement(ref _tcpConnections);
            connection.Dispose();
        }
    }

    /// <summary>False when the peer closed the connection (cleanly or half-way).</summary>
    private static async Task<bool> TryReceiveExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken token)
    {
        while (buffer.Length > 0)
        {
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            buffer = buffer[n..];
        }

        return true;
    }

    private void Track(Task task)
    {
        lock (_tasksLock)
        {
            _inFlight.Add(task);
        }

        _ = task.ContinueWith(
            t =>
            {
                lock (_tasksLock)
                {
                    _inFlight.Remove(t);
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }
}
