using System.Net;
using System.Net.Sockets;
using HardenRunner.Events;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Detectors;
using HardenRunner.Monitoring.Network;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Dns;

/// <summary>What the transport should do with a packet after <see cref="DnsQueryHandler.Classify"/>.</summary>
internal enum PacketAction
{
    /// <summary>Nothing: the packet was malformed (already counted).</summary>
    Drop,

    /// <summary>Send the response that was made locally.</summary>
    Respond,

    /// <summary>Call <see cref="DnsQueryHandler.ResolveAsync"/>.</summary>
    Forward,
}

/// <summary>
/// The DNS server's logic, independent of sockets: parse, decide by policy, answer locally (malformed, unsupported,
/// denied in block mode, allowed and cached) or forward; for forwarded answers strip ECH, cap TTLs, put the addresses
/// of allowed names into the allow sets (awaited), cache the answer, and publish one event per query — with the process
/// and step of the lookup the transport started for it (published when that ends, never delaying the answer) — and
/// feed every queried name to the dns-exfiltration detector.
/// </summary>
internal sealed class DnsQueryHandler
{
    private const string RuleZoneTransfer = "zone transfers are not forwarded";
    private const int DnsPort = 53;
    private static readonly TimeSpan UpstreamWarningInterval = TimeSpan.FromSeconds(10);

    private readonly ActivePolicy _policy;
    private readonly UpstreamForwarder _forwarder;
    private readonly IResolvedAddressSink _sink;
    private readonly IEventSink _events;
    private readonly DnsCounters _counters;
    private readonly DnsServerOptions _options;
    private readonly TimeProvider _time;
    private readonly DnsResponseCache? _cache;
    private readonly ILogger? _logger;
    private readonly DnsExfiltrationDetector? _exfiltration;
    private long _lastUpstreamWarning;

    public DnsQueryHandler(DnsServerOptions options, ActivePolicy policy, UpstreamForwarder forwarder, IResolvedAddressSink sink, IEventSink events, DnsCounters counters, TimeProvider time, ILogger? logger)
    {
        _cache = options.ResponseCacheEntries > 0
            ? new DnsResponseCache(options.ResponseCacheEntries, options.ResponseCacheBytes, options.MaxAllowTtl, options.NegativeCacheTtl, time)
            : null;
        _options = options;
        _policy = policy;
        _forwarder = forwarder;
        _sink = sink;
        _events = events;
        _counters = counters;
        _time = time;
        _logger = logger;
        _exfiltration = options.Exfiltration is { } exfiltration ? new DnsExfiltrationDetector(exfiltration) : null;
    }

    /// <summary>The response cache (null when disabled).</summary>
    internal DnsResponseCache? Cache => _cache;

    /// <summary>
    /// Call after the policy was replaced (and the firewall's allow sets were emptied with it): forgets every cached
    /// answer, and puts the addresses of the cached names that the new policy allows back into the allow sets, with the
    /// new policy's ports, for what remains of their allow — so a client that resolved a name before the switch and
    /// connects after it still gets through when the new policy allows that name. Returns how many addresses were
    /// allowed again; one that fails is counted (<see cref="DnsCounters.SinkFailures"/>) and skipped.
    /// </summary>
    public async Task<int> ReallowCachedAsync(CancellationToken cancellationToken)
    {
        if (_cache is null)
        {
            return 0;
        }

        var policy = _policy.Current;
        var now = _cache.Now;
        var allowed = 0;
        foreach (var (key, entry) in _cache.Clear())
        {
            if (entry.IsExpired(now) || entry.Addresses.Count == 0 || !policy.DecideDns(key.Name).IsAllowed)
            {
                continue;
            }

            var grants = policy.GetGrants(key.Name);
            foreach (var address in entry.Addresses)
            {
                var left = address.AllowedUntil - now;
                if (grants.Count == 0 || left <= TimeSpan.Zero)
                {
                    continue;
                }

                try
                {
                    await _sink.AddAsync(address.Address, grants, left, policy, cancellationToken).ConfigureAwait(false);
                    allowed++;
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Interlocked.Increment(ref _counters.SinkFailures);
                    _logger?.LogWarning(e, "could not allow the cached addresses of {Name} again after the policy switch", key.Name);
                }
            }
        }

        return allowed;
    }

    /// <summary>
    /// Reads a packet and handles everything that needs no upstream, including allowed names answered from the cache
    /// whose addresses are still allowed long enough. Never throws for any input. <paramref name="origin"/>: the lookup of
    /// the client's process, when the transport started one.
    /// </summary>
    public PacketAction Classify(ReadOnlySpan<byte> packet, bool tcp, PendingAttribution? origin, out byte[]? response, out DnsQuery query, out Verdict verdict)
    {
        response = null;
        verdict = default;
        Interlocked.Increment(ref _counters.Packets);
        switch (DnsQuery.TryParse(packet, out query))
        {
            case QueryParseResult.Malformed:
                Interlocked.Increment(ref _counters.Malformed);
                return PacketAction.Drop;
            case QueryParseResult.FormatError:
                Interlocked.Increment(ref _counters.Rejected);
                response = DnsResponses.HeaderOnly(packet, DnsWire.RcodeFormErr);
                return PacketAction.Respond;
            case QueryParseResult.NotImplemented:
                Interlocked.Increment(ref _counters.Rejected);
                response = DnsResponses.HeaderOnly(packet, DnsWire.RcodeNotImp);
                return PacketAction.Respond;
        }

        Interlocked.Increment(ref _counters.Queries);
        var policy = _policy.Current;
        verdict = Decide(policy, query);
        Interlocked.Increment(ref verdict.IsAllowed ? ref _counters.Allowed : ref _counters.Denied);

        if (!verdict.IsAllowed && policy.Mode == EgressMode.Block)
        {
            Publish(query, verdict, NetworkEvent.Blocked, origin);
            response = DnsResponses.FromQuery(packet, query, DnsWire.RcodeNxDomain);
            return PacketAction.Respond;
        }

        if (query.Type is DnsWire.TypeAxfr or DnsWire.TypeIxfr or DnsWire.TypeMailb or DnsWire.TypeMaila)
        {
            Interlocked.Increment(ref _counters.Rejected);
            Publish(query, Verdict.Deny(RuleZoneTransfer), NetworkEvent.Blocked, origin);
            response = DnsResponses.FromQuery(packet, query, DnsWire.RcodeRefused);
            return PacketAction.Respond;
        }

        if (verdict.IsAllowed && _cache is not null && DnsCacheKey.TryCreate(packet, query, tcp, out var key))
        {
            var now = _cache.Now;
            if (_cache.Get(key, now) is { } cached && cached.AllowsLongEnough(now, _options.MinAllowTtl))
            {
                Interlocked.Increment(ref _counters.CacheHits);
                Publish(query, verdict, NetworkEvent.Passed, origin);
                response = FromCache(packet, query, cached, tcp, now);
                return PacketAction.Respond;
            }
        }

        return PacketAction.Forward;
    }

    /// <summary>Forwards a query that <see cref="Classify"/> passed and makes the client's response. Never throws (except on cancellation of the server).</summary>
    public async Task<byte[]> ResolveAsync(byte[] packet, DnsQuery query, Verdict verdict, bool tcp, PendingAttribution? origin, CancellationToken serverStopping)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(serverStopping);
        deadline.CancelAfter(_options.QueryTimeout);
        // the policy may have been switched since Classify (service mode): decide again with the one in force now, and
        // keep it for the whole resolution (the firewall refuses allows decided under a replaced policy, and the cache
        // does not store an answer resolved across a switch)
        var policy = _policy.Current;
        var epoch = _cache?.Epoch ?? 0;
        verdict = Decide(policy, query);
        var block = policy.Mode == EgressMode.Block;
        if (!verdict.IsAllowed && block)
        {
            Publish(query, verdict, NetworkEvent.Blocked, origin);
            return DnsResponses.FromQuery(packet, query, DnsWire.RcodeNxDomain);
        }

        var key = default(DnsCacheKey);
        var cacheable = verdict.IsAllowed && _cache is not null && DnsCacheKey.TryCreate(packet, query, tcp, out key);
        try
        {
            if (cacheable && _cache!.Get(key, _cache.Now) is { } cached)
            {
                // cached, but an address must be allowed again first (or another query stored it meanwhile)
                return await FromCacheRenewingAsync(packet, query, verdict, policy, cached, tcp, origin, deadline.Token).ConfigureAwait(false);
            }

            var reply = await _forwarder.ForwardAsync(packet, query.QuestionEnd, tcp, deadline.Token).ConfigureAwait(false);
            if (!reply.Succeeded)
            {
                return UpstreamFailed(packet, query, verdict, reply.Error, origin);
            }

            var message = reply.Message!;
            if (DnsWire.QuestionCount(message) == 0)
            {
                // an upstream error without a question (FORMERR, NOTIMP): pass the code on
                Publish(query, verdict, NetworkEvent.Passed, origin);
                return DnsResponses.FromQuery(packet, query, (byte)DnsWire.GetRcode(message));
            }

            var maxTtl = (uint)_options.MaxAllowTtl.TotalSeconds;
            var rewritten = DnsResponseRewriter.Rewrite(message, verdict.IsAllowed ? maxTtl : null);
            if (rewritten is null)
            {
                return UpstreamFailed(packet, query, verdict, "upstream response could not be read", origin);
            }

            if (rewritten.EchStripped)
            {
                Interlocked.Increment(ref _counters.EchStripped);
            }

            if (verdict.IsAllowed)
            {
                var allowedFrom = _cache?.Now ?? default;
                var targets = AllowTargets(rewritten.Addresses);
                var grants = rewritten.Addresses.Count > 0 ? policy.GetGrants(query.Name) : [];
                if (!await AllowAsync(query.Name, grants, targets, policy, deadline.Token).ConfigureAwait(false))
                {
                    if (block)
                    {
                        Publish(query, verdict, NetworkEvent.Blocked, origin);
                        return DnsResponses.FromQuery(packet, query, DnsWire.RcodeServFail);
                    }
                }
                else
                {
                    if (cacheable)
                    {
                        // only after the firewall took every address: a hit must never serve an address that is not allowed
                        _cache!.Add(key, rewritten.Message, targets, grants, allowedFrom, epoch);
                    }

                    if (targets.Count > 0)
                    {
                        _options.NameResolved?.Invoke(query.Name);
                    }
                }
            }

            Publish(query, verdict, NetworkEvent.Passed, origin);
            if (!tcp && rewritten.Message.Length > query.ClientUdpLimit)
            {
                return DnsResponses.FromQuery(packet, query, (byte)DnsWire.GetRcode(rewritten.Message), truncated: true);
            }

            return rewritten.Message;
        }
        catch (OperationCanceledException) when (!serverStopping.IsCancellationRequested)
        {
            return UpstreamFailed(packet, query, verdict, $"no answer within {_options.QueryTimeout.TotalSeconds:0.#} s", origin);
        }
    }

    /// <summary>
    /// Answers from a cached entry after renewing the allows that would end before the served TTL or the floor (the
    /// sink is awaited, as for a forwarded answer). In block mode a failed renewal is SERVFAIL.
    /// </summary>
    private async Task<byte[]> FromCacheRenewingAsync(byte[] packet, DnsQuery query, Verdict verdict, PolicyEngine policy, CachedResponse cached, bool tcp, PendingAttribution? origin, CancellationToken cancellationToken)
    {
        var now = _cache!.Now;
        var renewals = cached.Renewals(now, _options.MinAllowTtl, _options.MaxAllowTtl);
        if (renewals.Count > 0)
        {
            var targets = renewals.ConvertAll(r => (r.Address.Address, r.Address.Ttl, r.Ttl));
            if (await AllowAsync(query.Name, cached.Grants, targets, policy, cancellationToken).ConfigureAwait(false))
            {
                foreach (var r in renewals)
                {
                    r.Address.Extend(now + r.Ttl);
                }
            }
            else if (policy.Mode == EgressMode.Block)
            {
                Publish(query, verdict, NetworkEvent.Blocked, origin);
                return DnsResponses.FromQuery(packet, query, DnsWire.RcodeServFail);
            }
        }

        Interlocked.Increment(ref _counters.CacheHits);
        Publish(query, verdict, NetworkEvent.Passed, origin);
        return FromCache(packet, query, cached, tcp, _cache.Now);
    }

    /// <summary>The cached answer for this client; a header-only TC answer when it does not fit the client's UDP limit (as uncached).</summary>
    private static byte[] FromCache(ReadOnlySpan<byte> packet, in DnsQuery query, CachedResponse cached, bool tcp, TimeSpan now) =>
        !tcp && cached.Length > query.ClientUdpLimit
            ? DnsResponses.FromQuery(packet, query, cached.Rcode, truncated: true)
            : cached.For(packet, query.QuestionEnd, now);

    /// <summary>The addresses of an answer that go into the allow sets (mapped IPv4 as IPv4), with the TTL the client is served and the allow TTL (clamped).</summary>
    private List<(IPAddress Address, uint Ttl, TimeSpan AllowFor)> AllowTargets(IReadOnlyList<ResolvedAddress> addresses)
    {
        var targets = new List<(IPAddress, uint, TimeSpan)>(addresses.Count);
        var maxTtl = (uint)_options.MaxAllowTtl.TotalSeconds;
        foreach (var a in addresses)
        {
            var address = a.Address.IsIPv4MappedToIPv6 ? a.Address.MapToIPv4() : a.Address;
            if (!IsWorthAllowing(address))
            {
                continue;
            }

            var ttl = TimeSpan.FromSeconds(a.Ttl);
            ttl = ttl < _options.MinAllowTtl ? _options.MinAllowTtl : ttl > _options.MaxAllowTtl ? _options.MaxAllowTtl : ttl;
            targets.Add((address, Math.Min(a.Ttl, maxTtl), ttl));
        }

        return targets;
    }

    private static Verdict Decide(PolicyEngine policy, in DnsQuery query) =>
        query.IsHostName ? policy.DecideDns(query.Name) : Verdict.Deny(PolicyEngine.RuleBadHost);

    private async Task<bool> AllowAsync(string name, IReadOnlyList<PortGrant> grants, List<(IPAddress Address, uint Ttl, TimeSpan AllowFor)> targets, PolicyEngine decidedBy, CancellationToken cancellationToken)
    {
        try
        {
            foreach (var t in targets)
            {
                await _sink.AddAsync(t.Address, grants, t.AllowFor, decidedBy, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Interlocked.Increment(ref _counters.SinkFailures);
            _logger?.LogWarning(e, "could not allow the addresses of {Name} in the firewall", name);
            return false;
        }
    }

    /// <summary>Unspecified, loopback, multicast and broadcast addresses are never put in the allow sets (loopback is always accepted anyway).</summary>
    internal static bool IsWorthAllowing(IPAddress address)
    {
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast))
        {
            return false;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return b[0] is < 224 or > 239;
        }

        return !address.IsIPv6Multicast;
    }

    private byte[] UpstreamFailed(byte[] packet, DnsQuery query, Verdict verdict, string? error, PendingAttribution? origin)
    {
        var failures = Interlocked.Increment(ref _counters.UpstreamFailures);
        if (_logger is not null)
        {
            // one warning per interval: when the upstream is down every query fails, and the counter tells how many
            var now = _time.GetTimestamp();
            var last = Interlocked.Read(ref _lastUpstreamWarning);
            if ((last == 0 || _time.GetElapsedTime(last, now) > UpstreamWarningInterval) && Interlocked.CompareExchange(ref _lastUpstreamWarning, now, last) == last)
            {
                _logger.LogWarning("upstream DNS failure ({Failures} so far) for {Name} {Type}: {Error}", failures, query.Name, DnsWire.TypeName(query.Type), error);
            }
        }

        Publish(query, verdict, NetworkEvent.Passed, origin);
        return DnsResponses.FromQuery(packet, query, DnsWire.RcodeServFail);
    }

    private void Publish(DnsQuery query, Verdict verdict, string action, PendingAttribution? origin)
    {
        var e = new NetworkEvent(
            _time.GetUtcNow(),
            "dns",
            query.Name.Length == 0 ? "." : query.Name,
            null,
            DnsPort,
            verdict.Decision,
            action,
            verdict.Rule,
            QueryType: DnsWire.TypeName(query.Type));
        if (origin is null)
        {
            Emit(e, Attribution.Unknown);
        }
        else
        {
            origin.Then(a => Emit(e, a));
        }
    }

    /// <summary>The query's event and, when its name tips a domain over the threshold, the dns-exfiltration detection (same process and step).</summary>
    private void Emit(NetworkEvent e, Attribution attribution)
    {
        _events.Publish(e.With(attribution));
        if (_exfiltration?.Observe(e.Host!, e.Time, attribution.Process, attribution.Step) is { } detection)
        {
            _events.Publish(detection);
        }
    }
}
