using System.Net;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Dns;
using HardenRunner.Events;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using Transport = HardenRunner.Policy.Model.Transport;

namespace HardenRunner.Tests.Dns;

/// <summary>A clock the test moves by hand (monotonic timestamps in ticks, UTC time alongside).</summary>
internal sealed class ManualClock : TimeProvider
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _ticks = TimeSpan.FromDays(1).Ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => Start + TimeSpan.FromTicks(GetTimestamp());

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>The response cache alone: what it stores, for how long, what a hit looks like, when allows must be renewed.</summary>
public sealed class DnsResponseCacheTests
{
    private static readonly PortGrant[] Https = [new PortGrant(443, Transport.Tcp)];
    private static readonly (IPAddress Address, uint Ttl, TimeSpan AllowFor)[] NoAddresses = [];

    private static DnsQuery Parse(byte[] packet)
    {
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(packet, out var q));
        return q;
    }

    private static DnsCacheKey Key(byte[] packet, bool tcp = false)
    {
        Assert.True(DnsCacheKey.TryCreate(packet, Parse(packet), tcp, out var key));
        return key;
    }

    private static DnsResponseCache NewCache(ManualClock clock, int capacity = 100, long bytes = 1 << 20) =>
        new(capacity, bytes, TimeSpan.FromHours(1), TimeSpan.FromSeconds(60), clock);

    /// <summary>allowed.test A: 192.0.2.10 (TTL <paramref name="ttl1"/>) and 192.0.2.11 (TTL <paramref name="ttl2"/>), an OPT with a cookie.</summary>
    private static byte[] PositiveAnswer(uint ttl1, uint ttl2, ushort id = 0x1111, ushort flags = 0x8180) =>
        WireBuilder.Header(id, flags, 1, 2, 0, 1).Name("allowed.test").U16(1).U16(1)
            .Pointer(12).U16(1).U16(1).U32(ttl1).U16(4).Bytes(192, 0, 2, 10)
            .Pointer(12).U16(1).U16(1).U32(ttl2).U16(4).Bytes(192, 0, 2, 11)
            .U8(0).U16(41).U16(1232).U32(0).U16(20).U16(10).U16(16).Bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
            .ToArray();

    /// <summary>NXDOMAIN for nothing.allowed.test with an SOA (TTL <paramref name="soaTtl"/>, MINIMUM <paramref name="minimum"/>) in the authority section, or none.</summary>
    private static byte[] NegativeAnswer(uint soaTtl, uint minimum, bool withSoa = true, byte rcode = 3)
    {
        var b = WireBuilder.Header(0x2222, (ushort)(0x8180 | rcode), 1, 0, (ushort)(withSoa ? 1 : 0)).Name("nothing.allowed.test").U16(1).U16(1);
        if (withSoa)
        {
            b.Name("allowed.test").RecordHeader(6, soaTtl, out var at).Name("ns.allowed.test").Name("admin.allowed.test").U32(1).U32(7200).U32(900).U32(86400).U32(minimum).EndRecord(at);
        }

        return b.ToArray();
    }

    private static uint[] AnswerTtls(byte[] response) => [.. DnsMessage.Parse(response).AnswerRecords.Select(r => (uint)r.TimeToLive)];

    [Fact]
    public void Key_FoldsNameCase_SeparatesRdCdDoEdnsAndTransport()
    {
        var plain = Key(WireBuilder.Query("allowed.test", 1));
        Assert.Equal(plain, Key(WireBuilder.Query("AlLoWeD.TeSt", 1, id: 0x9999)));
        Assert.NotEqual(plain, Key(WireBuilder.Query("allowed.test", 28)));
        Assert.NotEqual(plain, Key(WireBuilder.Query("allowed.test", 1, edns: 1232)));
        Assert.NotEqual(plain, Key(WireBuilder.Query("allowed.test", 1), tcp: true));
        Assert.NotEqual(plain, Key(WireBuilder.Header(0x1234, 0x0000, 1).Name("allowed.test").U16(1).U16(1).ToArray())); // RD clear
        Assert.NotEqual(plain, Key(WireBuilder.Header(0x1234, 0x0110, 1).Name("allowed.test").U16(1).U16(1).ToArray())); // CD set

        var edns = Key(WireBuilder.Query("allowed.test", 1, edns: 1232));
        Assert.Equal(edns, Key(WireBuilder.Query("allowed.test", 1, edns: 4096))); // the payload size decides truncation, not the answer
        var withDo = WireBuilder.Header(0x1234, 0x0100, 1, 0, 0, 1).Name("allowed.test").U16(1).U16(1).U8(0).U16(41).U16(1232).U32(0x8000).U16(0).ToArray();
        Assert.NotEqual(edns, Key(withDo));
        var withCookie = WireBuilder.Header(0x1234, 0x0100, 1, 0, 0, 1).Name("allowed.test").U16(1).U16(1).U8(0).U16(41).U16(1232).U32(0).U16(12).U16(10).U16(8).Bytes(1, 2, 3, 4, 5, 6, 7, 8).ToArray();
        Assert.Equal(edns, Key(withCookie));
    }

    [Fact]
    public void TryGetAddresses_StoredForAnyQueryShape_LivePositiveAnswersWithAddressesOnly()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        (IPAddress, uint, TimeSpan)[] allowed = [(IPAddress.Parse("192.0.2.10"), 30, TimeSpan.FromSeconds(60)), (IPAddress.Parse("192.0.2.11"), 60, TimeSpan.FromSeconds(60))];
        Assert.False(cache.TryGetAddresses("allowed.test", 1, cache.Now, out _));

        // stored for a client that asked over TCP with EDNS: the proxy's look-up (no query of its own) still finds it
        Assert.NotNull(cache.Add(Key(WireBuilder.Query("allowed.test", 1, edns: 1232), tcp: true), PositiveAnswer(30, 60), allowed, Https, cache.Now));
        Assert.True(cache.TryGetAddresses("allowed.test", 1, cache.Now, out var found));
        Assert.Equal(["192.0.2.10", "192.0.2.11"], found.Select(a => a.ToString()));
        Assert.False(cache.TryGetAddresses("allowed.test", 28, cache.Now, out _)); // another type
        Assert.False(cache.TryGetAddresses("other.test", 1, cache.Now, out _));

        clock.Advance(TimeSpan.FromSeconds(30)); // the smallest TTL is over
        Assert.False(cache.TryGetAddresses("allowed.test", 1, cache.Now, out _));

        // NXDOMAIN and an empty answer (NODATA): no such address, exactly
        Assert.NotNull(cache.Add(Key(WireBuilder.Query("nothing.allowed.test", 1)), NegativeAnswer(soaTtl: 300, minimum: 300), NoAddresses, Https, cache.Now));
        Assert.True(cache.TryGetAddresses("nothing.allowed.test", 1, cache.Now, out var none));
        Assert.Empty(none);
        Assert.NotNull(cache.Add(Key(WireBuilder.Query("nothing.allowed.test", 28)), NegativeAnswer(soaTtl: 300, minimum: 300, rcode: 0), NoAddresses, Https, cache.Now));
        Assert.True(cache.TryGetAddresses("nothing.allowed.test", 28, cache.Now, out none));
        Assert.Empty(none);

        // answer records that gave no address here (all left out of the allow list): asked for instead
        Assert.NotNull(cache.Add(Key(WireBuilder.Query("allowed.test", 1)), PositiveAnswer(300, 300), NoAddresses, Https, cache.Now));
        Assert.False(cache.TryGetAddresses("allowed.test", 1, cache.Now, out _));
    }

    [Theory]
    [InlineData("client subnet", (ushort)8, 0u)]
    [InlineData("NSID", (ushort)3, 0u)]
    [InlineData("EDNS version 1", (ushort)12, 0x00010000u)]
    public void Key_QueriesWhoseAnswerDependsOnMore_AreNotCacheable(string what, ushort option, uint optTtl)
    {
        var packet = WireBuilder.Header(0x1234, 0x0100, 1, 0, 0, 1).Name("allowed.test").U16(1).U16(1).U8(0).U16(41).U16(1232).U32(optTtl).U16(8).U16(option).U16(4).Bytes(0, 1, 24, 0).ToArray();
        Assert.False(DnsCacheKey.TryCreate(packet, Parse(packet), tcp: false, out _), what);
    }

    [Fact]
    public void Hit_CarriesTheClientsIdAndSpelling_TtlsReducedByAge_ExpiresAtSmallestTtl()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        var first = WireBuilder.Query("allowed.test", 1, id: 0x1111);
        var key = Key(first);
        Assert.NotNull(cache.Add(key, PositiveAnswer(300, 120), NoAddresses, Https, cache.Now));

        clock.Advance(TimeSpan.FromSeconds(100.9));
        var client = WireBuilder.Query("ALLOWED.Test", 1, id: 0xbeef);
        var entry = cache.Get(Key(client), cache.Now);
        Assert.NotNull(entry);
        var response = entry.For(client, Parse(client).QuestionEnd, cache.Now);

        var parsed = DnsMessage.Parse(response);
        Assert.Equal(0xbeef, parsed.TransactionID);
        Assert.Equal("ALLOWED.Test.", parsed.Questions[0].Name.ToString()); // 0x20 spelling echoed
        Assert.Equal([200u, 20u], AnswerTtls(response));
        Assert.Equal(1, cache.Count);

        clock.Advance(TimeSpan.FromSeconds(19)); // age 119.9 s: one second of the 120 s TTL left
        Assert.Equal([181u, 1u], AnswerTtls(cache.Get(key, cache.Now)!.For(client, Parse(client).QuestionEnd, cache.Now)));
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Null(cache.Get(key, cache.Now));
        Assert.Equal(0, cache.Count); // removed when found expired
    }

    [Fact]
    public void Hit_CookieOfTheFirstClientBlankedToPadding_CallersMessageUntouched()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        var upstream = PositiveAnswer(300, 300);
        var original = upstream.ToArray();
        var client = WireBuilder.Query("allowed.test", 1, id: 7, edns: 1232);

        var entry = cache.Add(Key(client), upstream, NoAddresses, Https, cache.Now);

        Assert.Equal(original, upstream);
        var served = DnsMessage.Parse(entry!.For(client, Parse(client).QuestionEnd, cache.Now));
        Assert.Equal(2, served.AnswerRecords.Count);
        Assert.DoesNotContain(served.EDnsOptions!.Options, o => o.Type == EDnsOptionType.Cookie);
        Assert.Contains(served.EDnsOptions.Options, o => o.Type == EDnsOptionType.Padding);
        Assert.Equal(upstream.Length, entry.Length);
    }

    [Fact]
    public void Negative_LivesForSoaMinimumCappedTo60s()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        var key = Key(WireBuilder.Query("nothing.allowed.test", 1));

        Assert.Equal(30u, cache.Add(key, NegativeAnswer(soaTtl: 3600, minimum: 30), NoAddresses, Https, cache.Now)!.LifetimeSeconds);
        Assert.Equal(20u, cache.Add(key, NegativeAnswer(soaTtl: 20, minimum: 300), NoAddresses, Https, cache.Now)!.LifetimeSeconds);
        Assert.Equal(60u, cache.Add(key, NegativeAnswer(soaTtl: 3600, minimum: 3600), NoAddresses, Https, cache.Now)!.LifetimeSeconds);
        Assert.Equal(60u, cache.Add(key, NegativeAnswer(3600, 3600, rcode: 0), NoAddresses, Https, cache.Now)!.LifetimeSeconds); // NODATA
        Assert.Equal(1, cache.Count); // the same key replaced

        clock.Advance(TimeSpan.FromSeconds(59.9));
        Assert.NotNull(cache.Get(key, cache.Now));
        clock.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Null(cache.Get(key, cache.Now));
    }

    [Fact]
    public void Positive_CappedToTheAllowCap()
    {
        var cache = NewCache(new ManualClock());
        Assert.Equal(3600u, cache.Add(Key(WireBuilder.Query("allowed.test", 1)), PositiveAnswer(86400, 7200), NoAddresses, Https, cache.Now)!.LifetimeSeconds);
    }

    public static TheoryData<string, byte[]> Uncacheable => new()
    {
        { "NXDOMAIN without SOA (RFC 2308 §5)", NegativeAnswer(0, 0, withSoa: false) },
        { "NODATA without SOA", NegativeAnswer(0, 0, withSoa: false, rcode: 0) },
        { "SERVFAIL", NegativeAnswer(300, 300, rcode: 2) },
        { "REFUSED", NegativeAnswer(300, 300, rcode: 5) },
        { "TTL 0", PositiveAnswer(300, 0) },
        { "SOA MINIMUM 0", NegativeAnswer(300, 0) },
        { "truncated", PositiveAnswer(300, 300, flags: 0x8380) },
        { "extended RCODE in OPT", WireBuilder.Header(1, 0x8180, 1, 0, 0, 1).Name("allowed.test").U16(1).U16(1).U8(0).U16(41).U16(1232).U32(0x01000000).U16(0).ToArray() },
        { "a query, not a response", WireBuilder.Query("allowed.test", 1) },
        { "cut short", PositiveAnswer(300, 300)[..40] },
    };

    [Theory]
    [MemberData(nameof(Uncacheable))]
    public void NotCacheable_NotStored(string what, byte[] response)
    {
        var cache = NewCache(new ManualClock());
        Assert.True(cache.Add(Key(WireBuilder.Query("allowed.test", 1)), response, NoAddresses, Https, cache.Now) is null, what);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Full_OldestEvicted_ByCountAndByBytes()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock, capacity: 3);
        var keys = Enumerable.Range(0, 5).Select(i => Key(WireBuilder.Query($"n{i}.allowed.test", 1))).ToArray();
        foreach (var k in keys)
        {
            cache.Add(k, PositiveAnswer(300, 300), NoAddresses, Https, cache.Now);
        }

        Assert.Equal(3, cache.Count);
        Assert.Null(cache.Get(keys[0], cache.Now));
        Assert.Null(cache.Get(keys[1], cache.Now));
        Assert.All(keys[2..], k => Assert.NotNull(cache.Get(k, cache.Now)));

        var size = PositiveAnswer(300, 300).Length;
        var small = NewCache(clock, capacity: 100, bytes: (2 * size) + 1);
        foreach (var k in keys)
        {
            small.Add(k, PositiveAnswer(300, 300), NoAddresses, Https, small.Now);
        }

        Assert.Equal(2, small.Count);
        Assert.NotNull(small.Get(keys[4], small.Now));
    }

    [Fact]
    public void Allow_LongTtl_NoRenewalUntilTheFloorIsReached_ThenRenewedForServedPlusFloor()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        var floor = TimeSpan.FromSeconds(60);
        var cap = TimeSpan.FromHours(1);
        var address = IPAddress.Parse("192.0.2.10");
        var entry = cache.Add(Key(WireBuilder.Query("allowed.test", 1)), PositiveAnswer(300, 300), [(address, 300u, TimeSpan.FromSeconds(300))], Https, cache.Now)!;

        // the allow was asked for the record's TTL: it outlives every TTL served while the remaining time is above the floor
        for (var age = 0; age <= 240; age += 10)
        {
            Assert.True(entry.AllowsLongEnough(cache.Now, floor), $"age {age}");
            Assert.Empty(entry.Renewals(cache.Now, floor, cap));
            clock.Advance(TimeSpan.FromSeconds(10));
        }

        // age 250: 50 s of allow left < the 60 s floor: renew for the served 50 s + 60 s
        Assert.False(entry.AllowsLongEnough(cache.Now, floor));
        var renewal = Assert.Single(entry.Renewals(cache.Now, floor, cap));
        Assert.Equal((address, TimeSpan.FromSeconds(110)), (renewal.Address.Address, renewal.Ttl));
        renewal.Address.Extend(cache.Now + renewal.Ttl);

        // one renewal covers the rest of the entry's life
        for (var age = 250; age < 300; age += 7)
        {
            Assert.True(entry.AllowsLongEnough(cache.Now, floor), $"age {age}");
            clock.Advance(TimeSpan.FromSeconds(7));
        }
    }

    [Fact]
    public void Allow_ShortTtl_FloorRenewedOnceOnTheFirstHit()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        var floor = TimeSpan.FromSeconds(60);
        var entry = cache.Add(Key(WireBuilder.Query("allowed.test", 1)), PositiveAnswer(30, 30), [(IPAddress.Parse("192.0.2.10"), 30u, floor)], Https, cache.Now)!;

        Assert.True(entry.AllowsLongEnough(cache.Now, floor)); // at once: 60 s allowed, 30 s served
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(entry.AllowsLongEnough(cache.Now, floor)); // 59 s left < floor
        var renewal = Assert.Single(entry.Renewals(cache.Now, floor, TimeSpan.FromHours(1)));
        Assert.Equal(TimeSpan.FromSeconds(29 + 60), renewal.Ttl);
        renewal.Address.Extend(cache.Now + renewal.Ttl);

        for (var age = 1; age < 30; age++)
        {
            Assert.True(entry.AllowsLongEnough(cache.Now, floor), $"age {age}");
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Null(cache.Get(Key(WireBuilder.Query("allowed.test", 1)), cache.Now));
    }

    [Fact]
    public void Allow_RenewalAtTheCap_StillCoversTheServedTtl()
    {
        var clock = new ManualClock();
        var cache = NewCache(clock);
        var cap = TimeSpan.FromHours(1);
        var address = new CachedAddress(IPAddress.Parse("192.0.2.10"), 3600, cache.Now + TimeSpan.FromSeconds(10)); // e.g. allowed briefly elsewhere
        var entry = new CachedResponse(PositiveAnswer(3600, 3600), [], [], cache.Now, 3600, [address], Https);

        var renewal = Assert.Single(entry.Renewals(cache.Now, TimeSpan.FromSeconds(60), cap));
        Assert.Equal(cap, renewal.Ttl); // 3600 + 60 capped
        address.Extend(cache.Now + renewal.Ttl);
        address.Extend(cache.Now); // an older renewal finishing late never shortens it
        Assert.True(entry.AllowsLongEnough(cache.Now, TimeSpan.FromSeconds(60)));
    }
}

/// <summary>The cache inside the DNS server, on loopback against the test upstream, with a hand-moved clock.</summary>
public sealed class DnsServerCacheTests : IDisposable
{
    private readonly TestUpstream _upstream = TestUpstream.Start();
    private readonly ManualClock _clock = new();

    public void Dispose() => _upstream.Dispose();

    private async Task<CachingServer> StartAsync(EgressMode mode = EgressMode.Block, RecordingSink? sink = null, Func<DnsServerOptions, DnsServerOptions>? configure = null, IPEndPoint? upstream = null)
    {
        var options = new DnsServerOptions
        {
            ListenEndpoints = [new IPEndPoint(IPAddress.Loopback, 0)],
            Upstreams = [upstream ?? _upstream.Endpoint],
            ConfigureUpstreamSocket = null,
            QueryTimeout = TimeSpan.FromSeconds(4),
        };
        options = configure?.Invoke(options) ?? options;
        sink ??= new RecordingSink();
        var events = new RecordingEvents();
        var server = new HardenRunner.Dns.DnsServer(options, ServerUnderTest.Policy(mode), sink, events, time: _clock);
        await server.StartAsync();
        return new CachingServer(server, sink, events);
    }

    private static DnsMessage Parse(byte[]? response)
    {
        Assert.NotNull(response);
        return DnsMessage.Parse(response);
    }

    [Fact]
    public async Task SecondQuery_FromCache_UpstreamAskedOnce_OneEventPerQuery_TtlsAged()
    {
        await using var s = await StartAsync();

        var first = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16, id: 1)));
        _clock.Advance(TimeSpan.FromSeconds(42.5));
        var second = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("aLLowed.TEST", 16, id: 2)));

        Assert.Single(_upstream.Queries("allowed.test"));
        Assert.Equal(300, first.AnswerRecords[0].TimeToLive);
        Assert.Equal((2, "aLLowed.TEST.", 258), (second.TransactionID, second.Questions[0].Name.ToString(), second.AnswerRecords[0].TimeToLive));
        Assert.Equal(["v=spf1 -all"], Assert.IsType<TxtRecord>(Assert.Single(second.AnswerRecords)).TextParts);
        Assert.Equal(2, s.Events.Dns.Count);
        Assert.All(s.Events.Dns, e => Assert.Equal(("allowed.test", "TXT", Decision.Allow, NetworkEvent.Passed), (e.Host, e.QueryType, e.Decision, e.Action)));
        Assert.Equal((2L, 2L, 1L), (s.Server.Stats.Queries, s.Server.Stats.Allowed, s.Server.Stats.CacheHits));
        Assert.Equal(1, s.Server.CachedResponses);
    }

    [Fact]
    public async Task Expired_ForwardedAgain()
    {
        await using var s = await StartAsync();

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16));
        _clock.Advance(TimeSpan.FromSeconds(299));
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16));
        Assert.Single(_upstream.Queries("allowed.test"));

        _clock.Advance(TimeSpan.FromSeconds(1));
        var again = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16)));
        Assert.Equal(2, _upstream.Queries("allowed.test").Count);
        Assert.Equal(300, again.AnswerRecords[0].TimeToLive);
        Assert.Equal(1, s.Server.Stats.CacheHits);
    }

    [Fact]
    public async Task DeniedName_AuditMode_ForwardedEveryTime_NeverCached_EveryQueryRecorded()
    {
        await using var s = await StartAsync(EgressMode.Audit);

        for (var i = 0; i < 3; i++)
        {
            Assert.Single(Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("c2VjcmV0.exfil.test", 1, id: (ushort)i))).AnswerRecords);
        }

        Assert.Equal(3, _upstream.Queries("c2vjcmv0.exfil.test").Count);
        Assert.Equal(3, s.Events.Dns.Count(e => e.Decision == Decision.Deny && e.Action == NetworkEvent.Passed));
        Assert.Equal((0L, 0), (s.Server.Stats.CacheHits, s.Server.CachedResponses));
        Assert.Empty(s.Sink.Added);
    }

    [Fact]
    public async Task DeniedName_BlockMode_NeverReachesCacheOrUpstream()
    {
        await using var s = await StartAsync();

        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(ReturnCode.NxDomain, Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("exfil.test", 1))).ReturnCode);
        }

        Assert.Equal(0, _upstream.Arrivals);
        Assert.Equal(0, s.Server.CachedResponses);
        Assert.Equal(2, s.Events.Dns.Count(e => e.Action == NetworkEvent.Blocked));
    }

    [Fact]
    public async Task AllowedName_AuditMode_Cached()
    {
        await using var s = await StartAsync(EgressMode.Audit);

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16));
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16));

        Assert.Single(_upstream.Queries("allowed.test"));
        Assert.Equal(1, s.Server.Stats.CacheHits);
    }

    [Fact]
    public async Task CachedAddress_AllowRenewedAndAwaitedBeforeTheHitIsSent_OncePerEntry()
    {
        var sink = new RecordingSink();
        await using var s = await StartAsync(sink: sink);

        // allowed.test A has TTL 5 upstream: allowed for the 60 s floor
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1));
        Assert.Equal(TimeSpan.FromSeconds(60), Assert.Single(sink.Added).Ttl);

        // 2 s later 58 s of allow are left, less than the floor an answer promises: renew (3 s served + 60 s) first
        _clock.Advance(TimeSpan.FromSeconds(2));
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        sink.Gate = gate.Task;
        var pending = DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1, id: 77), TimeSpan.FromSeconds(3));
        await Task.Delay(300);
        Assert.False(pending.IsCompleted, "the cached answer left before its address was allowed again");
        gate.SetResult();
        var hit = Parse(await pending);
        Assert.Equal((77, 3), (hit.TransactionID, hit.AnswerRecords[0].TimeToLive));
        var renewal = sink.Added.Last();
        Assert.Equal((TestUpstream.AllowedV4, TimeSpan.FromSeconds(63)), (renewal.Address, renewal.Ttl));
        Assert.Equal([new PortGrant(443, Transport.Tcp)], renewal.Grants);

        // the renewal covers the rest of the entry: later hits need no sink call
        sink.Gate = null;
        _clock.Advance(TimeSpan.FromSeconds(2));
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1));
        Assert.Equal(2, sink.Added.Count);
        Assert.Single(_upstream.Queries("allowed.test"));
        Assert.Equal(2, s.Server.Stats.CacheHits);
        Assert.Equal(3, s.Events.Dns.Count);
    }

    [Fact]
    public async Task RenewalFails_BlockMode_ServFail_AuditMode_Answer()
    {
        var sink = new RecordingSink();
        await using var block = await StartAsync(sink: sink);
        await DnsTestClient.UdpAsync(block.V4, WireBuilder.Query("allowed.test", 1));
        _clock.Advance(TimeSpan.FromSeconds(2));
        sink.Failure = new InvalidOperationException("nft set full");

        var failed = Parse(await DnsTestClient.UdpAsync(block.V4, WireBuilder.Query("allowed.test", 1)));
        Assert.Equal(ReturnCode.ServerFailure, failed.ReturnCode);
        Assert.Equal((1L, 0L), (block.Server.Stats.SinkFailures, block.Server.Stats.CacheHits));
        Assert.Equal(NetworkEvent.Blocked, block.Events.Dns[^1].Action);

        var auditSink = new RecordingSink();
        await using var audit = await StartAsync(EgressMode.Audit, auditSink);
        await DnsTestClient.UdpAsync(audit.V4, WireBuilder.Query("allowed.test", 28));
        _clock.Advance(TimeSpan.FromSeconds(2));
        auditSink.Failure = new InvalidOperationException("nft set full");
        Assert.Single(Parse(await DnsTestClient.UdpAsync(audit.V4, WireBuilder.Query("allowed.test", 28))).AnswerRecords);
        Assert.Equal(1, audit.Server.Stats.SinkFailures);
    }

    [Fact]
    public async Task SinkFailed_AnswerNotCached_NextQueryForwardedAndAllowedAgain()
    {
        var sink = new RecordingSink { Failure = new InvalidOperationException("nft set full") };
        await using var s = await StartAsync(EgressMode.Audit, sink);

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1));
        sink.Failure = null;
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1));

        Assert.Equal(2, _upstream.Queries("allowed.test").Count);
        Assert.Equal(TestUpstream.AllowedV4, Assert.Single(sink.Added).Address);
    }

    [Fact]
    public async Task CachedAnswer_LargerThanTheClientsUdpLimit_Truncated_TcpAndLargeBuffersGetItAll()
    {
        await using var s = await StartAsync();

        var large = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16, edns: 4096)));
        Assert.Single(large.AnswerRecords);

        // same key (EDNS, no DO), smaller buffer: the cached 2.4 KB answer does not fit 1232 bytes
        var small = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16, id: 9, edns: 1232)));
        Assert.True(small.IsTruncated);
        Assert.Empty(small.AnswerRecords);
        Assert.Equal(9, small.TransactionID);

        var again = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16, edns: 4096)));
        Assert.False(again.IsTruncated);
        Assert.Single(_upstream.Queries("big.allowed.test"));
        Assert.Equal(2, s.Server.Stats.CacheHits);

        // TCP has its own entry (fetched over TCP), then hits it
        Assert.Single(Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16, edns: 4096))).AnswerRecords);
        Assert.Single(Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16, edns: 4096))).AnswerRecords);
        Assert.Equal([TransportProtocol.Udp, TransportProtocol.Tcp], _upstream.Queries("big.allowed.test").Select(q => q.Transport));
    }

    [Fact]
    public async Task EchStrippedAnswer_IsWhatIsCached()
    {
        await using var s = await StartAsync();

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 65, edns: 1232));
        var hit = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 65, edns: 1232)));

        var https = Assert.IsType<HttpsRecord>(Assert.Single(hit.AnswerRecords));
        Assert.DoesNotContain(ServiceBindingParameterKey.ECH, https.Parameters.Keys);
        Assert.Equal((1L, 1L), (s.Server.Stats.CacheHits, s.Server.Stats.EchStripped));
    }

    [Fact]
    public async Task NxDomain_WithoutSoa_NotCached_WithSoa_CachedAtMost60s()
    {
        await using var s = await StartAsync();
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("nothing.allowed.test", 1));
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("nothing.allowed.test", 1));
        Assert.Equal(2, _upstream.Queries("nothing.allowed.test").Count); // the test upstream sends no SOA

        using var withSoa = new RawUpstream(q =>
        {
            var id = (ushort)((q[0] << 8) | q[1]);
            return [WireBuilder.Header(id, 0x8183, 1, 0, 1).Name("nothing.allowed.test").U16(1).U16(1)
                .Name("allowed.test").RecordHeader(6, 3600, out var at).Name("ns.allowed.test").Name("admin.allowed.test").U32(1).U32(7200).U32(900).U32(86400).U32(3600).EndRecord(at)
                .ToArray()];
        });
        await using var n = await StartAsync(upstream: withSoa.Endpoint);
        Assert.Equal(ReturnCode.NxDomain, Parse(await DnsTestClient.UdpAsync(n.V4, WireBuilder.Query("nothing.allowed.test", 1))).ReturnCode);
        _clock.Advance(TimeSpan.FromSeconds(59));
        var hit = Parse(await DnsTestClient.UdpAsync(n.V4, WireBuilder.Query("nothing.allowed.test", 1)));
        Assert.Equal((ReturnCode.NxDomain, 3600 - 59), (hit.ReturnCode, hit.AuthorityRecords[0].TimeToLive));
        Assert.Equal(1, withSoa.Received);
        _clock.Advance(TimeSpan.FromSeconds(1));
        await DnsTestClient.UdpAsync(n.V4, WireBuilder.Query("nothing.allowed.test", 1));
        Assert.Equal(2, withSoa.Received);
    }

    [Fact]
    public async Task CacheDisabled_EveryQueryForwarded()
    {
        await using var s = await StartAsync(configure: o => o with { ResponseCacheEntries = 0 });

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16));
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16));

        Assert.Equal(2, _upstream.Queries("allowed.test").Count);
        Assert.Equal(0, s.Server.Stats.CacheHits);
    }

    [Fact]
    public async Task ManyConcurrentHits_AllAnsweredWithTheirOwnIds()
    {
        await using var s = await StartAsync();
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("www.allowed.test", 1));

        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("www.allowed.test", 1, id: (ushort)i))));

        Assert.All(answers.Select((a, i) => (Parse(a), i)), x => Assert.Equal((x.i, 3), (x.Item1.TransactionID, x.Item1.AnswerRecords.Count)));
        Assert.Single(_upstream.Queries("www.allowed.test"));
        Assert.Equal(200, s.Server.Stats.CacheHits);
        Assert.Equal(201, s.Events.Dns.Count);
    }

    private sealed class CachingServer(HardenRunner.Dns.DnsServer server, RecordingSink sink, RecordingEvents events) : IAsyncDisposable
    {
        public HardenRunner.Dns.DnsServer Server { get; } = server;

        public RecordingSink Sink { get; } = sink;

        public RecordingEvents Events { get; } = events;

        public IPEndPoint V4 => Server.LocalEndpoints[0];

        public ValueTask DisposeAsync() => Server.DisposeAsync();
    }
}
