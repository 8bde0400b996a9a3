using System.Net;
using HardenRunner.Policy;

namespace HardenRunner.Dns;

/// <summary>
/// What an answer depends on besides the question's name, type and class: RD and CD, whether the query had EDNS
/// and the DO bit, and whether it came over TCP (a TCP query is answered from an answer fetched over TCP, never
/// from one an upstream may have trimmed to fit a datagram).
/// </summary>
internal readonly record struct DnsCacheKey(string Name, ushort Type, ushort Class, byte Flags)
{
    internal const byte FlagRd = 1;
    internal const byte FlagCd = 2;
    internal const byte FlagEdns = 4;
    internal const byte FlagDo = 8;
    internal const byte FlagTcp = 16;
    private const ushort OptionCookie = 10;
    private const ushort OptionPadding = 12;

    /// <summary>
    /// The key of a query that <see cref="DnsQuery.TryParse"/> accepted; false when its answer may depend on more
    /// than the key: an EDNS version other than 0, or EDNS options other than COOKIE and PADDING (client subnet,
    /// NSID, ...). Such queries are forwarded every time.
    /// </summary>
    public static bool TryCreate(ReadOnlySpan<byte> packet, in DnsQuery query, bool tcp, out DnsCacheKey key)
    {
        key = default;
        var flags = (byte)(((packet[2] & 0x01) != 0 ? FlagRd : 0) | ((packet[3] & 0x10) != 0 ? FlagCd : 0) | (tcp ? FlagTcp : 0));
        if (query.HasOpt)
        {
            if (((query.OptTtl >> 16) & 0xff) != 0)
            {
                return false;
            }

            // TryParse guarantees: the OPT record starts at QuestionEnd, its options run to the end of the packet
            var options = packet[(query.QuestionEnd + 11)..];
            for (var i = 0; i + 4 <= options.Length; i += 4 + DnsWire.ReadUInt16(options, i + 2))
            {
                if (DnsWire.ReadUInt16(options, i) is not (OptionCookie or OptionPadding))
                {
                    return false;
                }
            }

            flags |= FlagEdns;
            if ((query.OptTtl & 0x8000) != 0)
            {
                flags |= FlagDo;
            }
        }

        key = new DnsCacheKey(query.Name, query.Type, query.Class, flags);
        return true;
    }
}

/// <summary>An address the firewall allows because of a cached answer, and until when (the cache's clock).</summary>
internal sealed class CachedAddress
{
    private long _allowedUntilTicks;

    public CachedAddress(IPAddress address, uint ttl, TimeSpan allowedUntil)
    {
        Address = address;
        Ttl = ttl;
        _allowedUntilTicks = allowedUntil.Ticks;
    }

    public IPAddress Address { get; }

    /// <summary>The TTL of its record in the stored message (already capped to the allow cap).</summary>
    public uint Ttl { get; }

    public TimeSpan AllowedUntil => new(Interlocked.Read(ref _allowedUntilTicks));

    /// <summary>Records a later allow; never moves the time back (concurrent renewals may finish in any order).</summary>
    public void Extend(TimeSpan until)
    {
        var current = Interlocked.Read(ref _allowedUntilTicks);
        while (until.Ticks > current)
        {
            var seen = Interlocked.CompareExchange(ref _allowedUntilTicks, until.Ticks, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}

/// <summary>A renewal of an address's allow that serving a cached answer needs first.</summary>
internal readonly record struct AllowRenewal(CachedAddress Address, TimeSpan Ttl);

/// <summary>
/// One cached response: the message as the first client got it (ECH already stripped, answer TTLs capped), with
/// the COOKIE option blanked to PADDING (a server cookie belongs to the client that asked), where its TTLs are,
/// and the addresses the firewall was told to allow for it.
/// </summary>
internal sealed class CachedResponse
{
    private readonly byte[] _message;
    private readonly int[] _ttlOffsets;
    private readonly uint[] _ttls;

    public CachedResponse(byte[] message, int[] ttlOffsets, uint[] ttls, TimeSpan storedAt, uint lifetimeSeconds, CachedAddress[] addresses, IReadOnlyList<PortGrant> grants)
    {
        _message = message;
        _ttlOffsets = ttlOffsets;
        _ttls = ttls;
        StoredAt = storedAt;
        LifetimeSeconds = lifetimeSeconds;
        Addresses = addresses;
        Grants = grants;
    }

    public TimeSpan StoredAt { get; }

    /// <summary>Whole seconds the entry lives: the smallest TTL in it, capped.</summary>
    public uint LifetimeSeconds { get; }

    public IReadOnlyList<CachedAddress> Addresses { get; }

    /// <summary>The grants of the queried name, looked up once when the answer was stored (the policy does not change).</summary>
    public IReadOnlyList<PortGrant> Grants { get; }

    public int Length => _message.Length;

    public byte Rcode => (byte)DnsWire.GetRcode(_message);

    /// <summary>Records in the answer section (0 for NXDOMAIN and for NODATA without a CNAME).</summary>
    public int AnswerCount => DnsWire.AnswerCount(_message);

    public uint AgeSeconds(TimeSpan now) => now <= StoredAt ? 0 : (uint)Math.Min(uint.MaxValue, (now - StoredAt).Ticks / TimeSpan.TicksPerSecond);

    public bool IsExpired(TimeSpan now) => AgeSeconds(now) >= LifetimeSeconds;

    /// <summary>
    /// True when every address stays allowed for at least the TTL the client would be served and at least
    /// <paramref name="floor"/> — what an uncached answer guarantees too. Otherwise the addresses must be renewed
    /// (<see cref="Renewals"/>) before the answer is sent.
    /// </summary>
    public bool AllowsLongEnough(TimeSpan now, TimeSpan floor)
    {
        var age = AgeSeconds(now);
        foreach (var a in Addresses)
        {
            if (a.AllowedUntil - now < Needed(a, age, floor))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The addresses whose allow would end too early, each with the TTL to renew it for: the served TTL plus the
    /// floor (capped), so one renewal covers every later hit of this entry rather than one per hit.
    /// </summary>
    public List<AllowRenewal> Renewals(TimeSpan now, TimeSpan floor, TimeSpan cap)
    {
        var age = AgeSeconds(now);
        var renewals = new List<AllowRenewal>();
        foreach (var a in Addresses)
        {
            if (a.AllowedUntil - now < Needed(a, age, floor))
            {
                var ttl = Served(a, age) + floor;
                renewals.Add(new AllowRenewal(a, ttl > cap ? cap : ttl));
            }
        }

        return renewals;
    }

    /// <summary>The stored message for the client that sent <paramref name="query"/>: its transaction id, its spelling of the question name, every TTL reduced by the age.</summary>
    public byte[] For(ReadOnlySpan<byte> query, int questionEnd, TimeSpan now)
    {
        var response = new byte[_message.Length];
        _message.CopyTo(response, 0);
        query[..2].CopyTo(response);
        query[DnsWire.HeaderLength..(questionEnd - 4)].CopyTo(response.AsSpan(DnsWire.HeaderLength));
        var age = AgeSeconds(now);
        if (age > 0)
        {
            for (var i = 0; i < _ttlOffsets.Length; i++)
            {
                DnsWire.WriteUInt32(response, _ttlOffsets[i], _ttls[i] > age ? _ttls[i] - age : 0);
            }
        }

        return response;
    }

    private static TimeSpan Served(CachedAddress a, uint age) => TimeSpan.FromSeconds(a.Ttl > age ? a.Ttl - age : 0);

    private static TimeSpan Needed(CachedAddress a, uint age, TimeSpan floor)
    {
        var served = Served(a, age);
        return served > floor ? served : floor;
    }
}

/// <summary>
/// The DNS server's response cache, for allowed names only (the handler never stores or looks up a denied name, so
/// every denied query is decided, recorded and — in audit mode — forwarded). Bounded in entries and bytes; when
/// full the oldest stored entry goes. Positive answers live for their smallest TTL (capped like the allow sets);
/// NXDOMAIN and NODATA answers for min(SOA TTL, SOA MINIMUM) per RFC 2308, capped short, and only when they carry
/// an SOA. Only NOERROR and NXDOMAIN answers, never truncated ones, are stored. Thread-safe.
/// </summary>
internal sealed class DnsResponseCache
{
    /// <summary>Larger responses are not cached (they are rare, and the byte budget should hold many entries).</summary>
    public const int MaxMessageBytes = 16 * 1024;

    private const ushort OptionCookie = 10;
    private const ushort OptionPadding = 12;

    private readonly Dictionary<DnsCacheKey, LinkedListNode<(DnsCacheKey Key, CachedResponse Entry)>> _entries = [];
    private readonly LinkedList<(DnsCacheKey Key, CachedResponse Entry)> _age = new();
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly long _maxBytes;
    private readonly uint _maxTtl;
    private readonly uint _maxNegativeTtl;
    private readonly TimeProvider _time;
    private readonly long _origin;
    private long _bytes;
    private long _epoch;

    public DnsResponseCache(int capacity, long maxBytes, TimeSpan maxTtl, TimeSpan maxNegativeTtl, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        _capacity = capacity;
        _maxBytes = maxBytes;
        _maxTtl = (uint)Math.Max(0, maxTtl.TotalSeconds);
        _maxNegativeTtl = (uint)Math.Max(0, maxNegativeTtl.TotalSeconds);
        _time = time;
        _origin = time.GetTimestamp();
    }

    /// <summary>The cache's monotonic clock.</summary>
    public TimeSpan Now => _time.GetElapsedTime(_origin);

    /// <summary>
    /// Changes at every <see cref="Clear"/>. A resolution reads it before it starts and passes it to
    /// <see cref="Add"/>, which drops the answer when the cache was cleared meanwhile (the policy it was decided
    /// under, and the allows it relied on, are gone).
    /// </summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>Empties the cache (a policy switch) and returns what was in it, oldest first; answers being resolved now are not stored.</summary>
    public List<(DnsCacheKey Key, CachedResponse Entry)> Clear()
    {
        lock (_lock)
        {
            Interlocked.Increment(ref _epoch);
            var removed = new List<(DnsCacheKey, CachedResponse)>(_age);
            _entries.Clear();
            _age.Clear();
            _bytes = 0;
            return removed;
        }
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>
    /// The addresses of a live entry for <paramref name="name"/> (lower case, no trailing dot) and
    /// <paramref name="type"/>, class IN, stored for any query shape (with or without EDNS, DO or CD, over UDP or TCP):
    /// the proxy's own look-ups read what a client's query just stored. True with an empty list for a live NXDOMAIN or
    /// an empty answer section (the name has no such address). False when there is no live entry, and for an answer
    /// whose records gave no address here — a CNAME chain without addresses, or addresses all left out of the allow list
    /// (loopback, multicast): the caller asks the server, which answers it exactly.
    /// </summary>
    public bool TryGetAddresses(string name, ushort type, TimeSpan now, out List<IPAddress> addresses)
    {
        const ushort ClassIn = 1;
        const byte AllFlags = DnsCacheKey.FlagRd | DnsCacheKey.FlagCd | DnsCacheKey.FlagEdns | DnsCacheKey.FlagDo | DnsCacheKey.FlagTcp;
        lock (_lock)
        {
            for (var flags = 0; flags <= AllFlags; flags++)
            {
                if (_entries.TryGetValue(new DnsCacheKey(name, type, ClassIn, (byte)flags), out var node)
                    && node.Value.Entry is { } entry
                    && (entry.Rcode == DnsWire.RcodeNxDomain || (entry.Rcode == DnsWire.RcodeNoError && (entry.Addresses.Count > 0 || entry.AnswerCount == 0)))
                    && !entry.IsExpired(now))
                {
                    addresses = new List<IPAddress>(entry.Addresses.Count);
                    foreach (var a in entry.Addresses)
                    {
                        addresses.Add(a.Address);
                    }

                    return true;
                }
            }
        }

        addresses = [];
        return false;
    }

    /// <summary>The live entry for <paramref name="key"/>, or null (an expired entry is removed).</summary>
    public CachedResponse? Get(in DnsCacheKey key, TimeSpan now)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var node))
            {
                return null;
            }

            if (!node.Value.Entry.IsExpired(now))
            {
                return node.Value.Entry;
            }

            Remove(node);
            return null;
        }
    }

    /// <summary>
    /// Stores the response the client was sent (the caller keeps using <paramref name="message"/>: it is copied).
    /// <paramref name="addresses"/> are the addresses the firewall was told to allow, each for its allow TTL,
    /// counted from <paramref name="allowedFrom"/> (read before the allow was asked for). Returns null when the
    /// response is not cacheable, or when <paramref name="epoch"/> (read before the resolution started; null: the
    /// current one) is no longer <see cref="Epoch"/>.
    /// </summary>
    public CachedResponse? Add(in DnsCacheKey key, ReadOnlySpan<byte> message, IReadOnlyList<(IPAddress Address, uint Ttl, TimeSpan AllowFor)> addresses, IReadOnlyList<PortGrant> grants, TimeSpan allowedFrom, long? epoch = null)
    {
        var entry = Inspect(message, addresses, grants, allowedFrom, Now);
        if (entry is null)
        {
            return null;
        }

        lock (_lock)
        {
            if (epoch is { } e && e != _epoch)
            {
                return null;
            }

            if (_entries.TryGetValue(key, out var existing))
            {
                Remove(existing);
            }

            while (_age.First is { } oldest && (_entries.Count >= _capacity || _bytes + entry.Length > _maxBytes))
            {
                Remove(oldest);
            }

            _entries[key] = _age.AddLast((key, entry));
            _bytes += entry.Length;
        }

        return entry;
    }

    private CachedResponse? Inspect(ReadOnlySpan<byte> m, IReadOnlyList<(IPAddress Address, uint Ttl, TimeSpan AllowFor)> addresses, IReadOnlyList<PortGrant> grants, TimeSpan allowedFrom, TimeSpan now)
    {
        if (m.Length < DnsWire.HeaderLength || m.Length > MaxMessageBytes || !DnsWire.IsResponse(m) || DnsWire.IsTruncated(m) || DnsWire.QuestionCount(m) != 1)
        {
            return null;
        }

        var rcode = DnsWire.GetRcode(m);
        if (rcode is not (DnsWire.RcodeNoError or DnsWire.RcodeNxDomain))
        {
            return null;
        }

        var offset = DnsWire.HeaderLength;
        if (!DnsWire.TryWalkName(m, ref offset, allowCompression: true, null, null, out _) || offset + 4 > m.Length)
        {
            return null;
        }

        offset += 4;
        var answers = DnsWire.AnswerCount(m);
        var authority = DnsWire.AuthorityCount(m);
        var total = answers + authority + DnsWire.AdditionalCount(m);
        var ttlOffsets = new List<int>(total);
        var ttls = new List<uint>(total);
        var lifetime = uint.MaxValue;
        uint? soaMinimum = null;
        var optOptions = -1;
        var optEnd = -1;
        for (var n = 0; n < total; n++)
        {
            if (!DnsWire.TryWalkName(m, ref offset, allowCompression: true, null, null, out _) || offset + 10 > m.Length)
            {
                return null;
            }

            var type = DnsWire.ReadUInt16(m, offset);
            var ttl = DnsWire.ReadUInt32(m, offset + 4);
            var rdata = offset + 10;
            var rdEnd = rdata + DnsWire.ReadUInt16(m, offset + 8);
            if (rdEnd > m.Length)
            {
                return null;
            }

            if (type == DnsWire.TypeOpt)
            {
                if (ttl >> 24 != 0 || optOptions >= 0)
                {
                    return null; // an extended RCODE (BADVERS, BADCOOKIE, ...) or two OPT records: not an answer to keep
                }

                optOptions = rdata;
                optEnd = rdEnd;
            }
            else
            {
                ttlOffsets.Add(offset + 4);
                ttls.Add(ttl);
                lifetime = Math.Min(lifetime, ttl);
                if (type == DnsWire.TypeSoa && n >= answers && n < answers + authority && rdEnd - rdata >= 20)
                {
                    var minimum = DnsWire.ReadUInt32(m, rdEnd - 4);
                    soaMinimum = Math.Min(soaMinimum ?? uint.MaxValue, minimum);
                }
            }

            offset = rdEnd;
        }

        var negative = rcode == DnsWire.RcodeNxDomain || answers == 0;
        if (soaMinimum is { } soa)
        {
            lifetime = Math.Min(lifetime, soa);
        }
        else if (negative)
        {
            return null; // RFC 2308 §5: a negative answer without an SOA is not cached
        }

        lifetime = Math.Min(lifetime, negative ? _maxNegativeTtl : _maxTtl);
        if (lifetime == 0 || lifetime == uint.MaxValue)
        {
            return null;
        }

        var stored = m[..offset].ToArray();
        if (optOptions >= 0 && !BlankCookies(stored, optOptions, optEnd))
        {
            return null;
        }

        var cached = new CachedAddress[addresses.Count];
        for (var i = 0; i < cached.Length; i++)
        {
            cached[i] = new CachedAddress(addresses[i].Address, addresses[i].Ttl, allowedFrom + addresses[i].AllowFor);
        }

        return new CachedResponse(stored, [.. ttlOffsets], [.. ttls], now, lifetime, cached, grants);
    }

    /// <summary>Turns every COOKIE option into PADDING of the same length (zeros): same size, nothing else moves.</summary>
    private static bool BlankCookies(byte[] m, int start, int end)
    {
        var i = start;
        while (i + 4 <= end)
        {
            var length = DnsWire.ReadUInt16(m, i + 2);
            if (i + 4 + length > end)
            {
                return false;
            }

            if (DnsWire.ReadUInt16(m, i) == OptionCookie)
            {
                DnsWire.WriteUInt16(m, i, OptionPadding);
                m.AsSpan(i + 4, length).Clear();
            }

            i += 4 + length;
        }

        return i == end;
    }

    private void Remove(LinkedListNode<(DnsCacheKey Key, CachedResponse Entry)> node)
    {
        _entries.Remove(node.Value.Key);
        _age.Remove(node);
        _bytes -= node.Value.Entry.Length;
    }
}
