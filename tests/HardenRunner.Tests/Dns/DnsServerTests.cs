using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Dns;
using HardenRunner.Events;
using HardenRunner.Linux;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using Transport = HardenRunner.Policy.Model.Transport;

namespace HardenRunner.Tests.Dns;

/// <summary>The DNS server on loopback against a real upstream DNS server started by the test.</summary>
public sealed class DnsServerTests : IDisposable
{
    private readonly TestUpstream _upstream = TestUpstream.Start();

    public void Dispose() => _upstream.Dispose();

    private static DnsMessage Parse(byte[]? response)
    {
        Assert.NotNull(response);
        return DnsMessage.Parse(response);
    }

    [Fact]
    public async Task AllowedName_Udp_ForwardedAnsweredAndAddressAllowedWithTtlFloor()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1, id: 0x5151)));

        Assert.Equal(0x5151, answer.TransactionID);
        Assert.Equal(ReturnCode.NoError, answer.ReturnCode);
        Assert.Equal(TestUpstream.AllowedV4, Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
        var received = Assert.Single(_upstream.Log);
        Assert.Equal(("allowed.test", RecordType.A, TransportProtocol.Udp), (received.Name, received.Type, received.Transport));

        var added = Assert.Single(s.Sink.Added);
        Assert.Equal(TestUpstream.AllowedV4, added.Address);
        Assert.Equal([new PortGrant(443, Transport.Tcp)], added.Grants);
        Assert.Equal(TimeSpan.FromSeconds(60), added.Ttl); // upstream TTL 5 s, floor 60 s

        var e = Assert.Single(s.Events.Dns);
        Assert.Equal(("allowed.test", "A", Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: allowed.test:443"), (e.Host, e.QueryType, e.Decision, e.Action, e.Rule));
        Assert.Equal(new DnsServerStats(1, 1, 1, 0, 0, 0, 0, 0, 0, 0), s.Server.Stats);
    }

    [Fact]
    public async Task NameResolved_ForwardedAllowedAnswersWithAddressesOnly_NotCacheHitsDeniedOrAddressless()
    {
        var names = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], configure: o => o with { NameResolved = names.Enqueue });

        Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1, id: 1)));
        Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1, id: 2))); // answered from the cache
        Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("exfil.test", 1, id: 3))); // denied: never forwarded
        Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16, id: 4))); // TXT: no address
        Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("www.allowed.test", 28, id: 5)));

        Assert.Equal(["allowed.test", "www.allowed.test"], names);
        Assert.Single(_upstream.Log, q => q.Name == "allowed.test" && q.Type == RecordType.A);
    }

    [Fact]
    public async Task TheAppliancesResolver_NameAClientJustResolved_ReadFromTheCache_NoQueryNoEvent()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);
        var resolver = new HardenRunner.Hosting.ApplianceDnsResolver(s.V4.Port, cached: s.Server.CachedAddresses);

        // a client (glibc-style: no EDNS) resolves the name; the proxy's look-up then sends nothing
        Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1, id: 1)));
        Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 28, id: 2)));
        var events = s.Events.Dns.Count;
        var upstreamQueries = _upstream.Log.Count;

        var addresses = await resolver.ResolveAsync("allowed.test", CancellationToken.None);

        Assert.Equal([TestUpstream.AllowedV4, TestUpstream.AllowedV6], addresses);
        Assert.Equal(upstreamQueries, _upstream.Log.Count);
        Assert.Equal(events, s.Events.Dns.Count);
        Assert.Equal(2, s.Server.Stats.Queries);

        // a name nobody asked for: the resolver asks the server, as before (recorded, forwarded)
        Assert.NotEmpty(await resolver.ResolveAsync("www.allowed.test", CancellationToken.None));
        Assert.Equal(4, s.Server.Stats.Queries);
        Assert.Contains(_upstream.Log, q => q.Name == "www.allowed.test");
    }

    [Fact]
    public async Task AllowedName_Tcp_ForwardedOverTcp()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var answer = Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("allowed.test", 28, edns: 1232)));

        Assert.Equal(TestUpstream.AllowedV6, Assert.IsType<AaaaRecord>(Assert.Single(answer.AnswerRecords)).Address);
        Assert.True(answer.IsEDnsEnabled);
        Assert.Equal(TransportProtocol.Tcp, Assert.Single(_upstream.Log).Transport);
        Assert.Equal(TestUpstream.AllowedV6, Assert.Single(s.Sink.Added).Address);
    }

    [Fact]
    public async Task AllowedName_OverIpv6Listener_Answered()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        Assert.Equal(AddressFamily.InterNetworkV6, s.V6.AddressFamily);
        Assert.Equal(s.V4.Port, s.V6.Port);
        var udp = Parse(await DnsTestClient.UdpAsync(s.V6, WireBuilder.Query("allowed.test", 1)));
        var tcp = Parse(await DnsTestClient.TcpAsync(s.V6, WireBuilder.Query("allowed.test", 1)));
        Assert.Single(udp.AnswerRecords);
        Assert.Single(tcp.AnswerRecords);
    }

    [Fact]
    public async Task EveryRecordType_PassesThrough()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var txt = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 16, edns: 1232)));
        Assert.Equal(["v=spf1 -all"], Assert.IsType<TxtRecord>(Assert.Single(txt.AnswerRecords)).TextParts);

        var mx = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 15)));
        var mxRecord = Assert.IsType<MxRecord>(Assert.Single(mx.AnswerRecords));
        Assert.Equal((10, "mail.allowed.test."), (mxRecord.Preference, mxRecord.ExchangeDomainName.ToString()));

        var srv = Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("_imaps._tcp.allowed.test", 33)));
        var srvRecord = Assert.IsType<SrvRecord>(Assert.Single(srv.AnswerRecords));
        Assert.Equal((993, "mail.allowed.test."), (srvRecord.Port, srvRecord.Target.ToString()));

        var caa = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 257)));
        Assert.Equal("ca.test", Assert.IsType<CAARecord>(Assert.Single(caa.AnswerRecords)).Value);

        var ptr = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("10.2.0.192.in-addr.arpa", 12)));
        Assert.Equal("allowed.test.", Assert.IsType<PtrRecord>(Assert.Single(ptr.AnswerRecords)).PointerDomainName.ToString());

        var nx = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("nothing.allowed.test", 1)));
        Assert.Equal(ReturnCode.NxDomain, nx.ReturnCode);

        Assert.Equal(6, _upstream.Log.Count);
        Assert.Empty(s.Sink.Added); // no A/AAAA in these answers
        Assert.Equal(0, s.Server.Stats.EchStripped);
    }

    [Fact]
    public async Task Https_EchParameterRemoved_OthersKept()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        foreach (var response in new[]
        {
            await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 65, edns: 1232)),
            await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("allowed.test", 65)),
        })
        {
            var https = Assert.IsType<HttpsRecord>(Assert.Single(Parse(response).AnswerRecords));
            Assert.DoesNotContain(ServiceBindingParameterKey.ECH, https.Parameters.Keys);
            Assert.Equal(443, ((PortServiceBindingParameter)https.Parameters[ServiceBindingParameterKey.Port]).Port);
            Assert.Contains(ServiceBindingParameterKey.ALPN, https.Parameters.Keys);
            Assert.DoesNotContain(TestUpstream.EchConfig, response!.Chunk(TestUpstream.EchConfig.Length)); // cheap sanity check
        }

        Assert.Equal(2, s.Server.Stats.EchStripped);
    }

    [Fact]
    public async Task Https_EchPresentUpstream_ProvenByDirectQuery()
    {
        // the same query straight to the upstream carries ech: the test above would catch a server that forgot to strip
        var direct = Parse(await DnsTestClient.UdpAsync(_upstream.Endpoint, WireBuilder.Query("allowed.test", 65, edns: 1232)));
        Assert.Contains(ServiceBindingParameterKey.ECH, Assert.IsType<HttpsRecord>(Assert.Single(direct.AnswerRecords)).Parameters.Keys);
    }

    [Fact]
    public async Task Svcb_EchParameterRemoved_OthersKept_UdpAndTcp()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        // the same query straight to the upstream carries ech, so a server that forgot SVCB would fail below
        var direct = Parse(await DnsTestClient.UdpAsync(_upstream.Endpoint, WireBuilder.Query("_dns.allowed.test", 64, edns: 1232)));
        Assert.Contains(ServiceBindingParameterKey.ECH, Assert.IsType<SvcBRecord>(Assert.Single(direct.AnswerRecords)).Parameters.Keys);

        foreach (var response in new[]
        {
            await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("_dns.allowed.test", 64, edns: 1232)),
            await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("_dns.allowed.test", 64)),
        })
        {
            var svcb = Assert.IsType<SvcBRecord>(Assert.Single(Parse(response).AnswerRecords));
            Assert.DoesNotContain(ServiceBindingParameterKey.ECH, svcb.Parameters.Keys);
            Assert.Equal("dot.allowed.test.", svcb.Target.ToString());
            Assert.Equal(853, ((PortServiceBindingParameter)svcb.Parameters[ServiceBindingParameterKey.Port]).Port);
            Assert.Contains(ServiceBindingParameterKey.ALPN, svcb.Parameters.Keys);
            Assert.DoesNotContain(TestUpstream.EchConfig, response!.Chunk(TestUpstream.EchConfig.Length));
        }

        Assert.Equal(2, s.Server.Stats.EchStripped);
        Assert.All(s.Events.Dns, e => Assert.Equal(("SVCB", Decision.Allow), (e.QueryType, e.Decision)));
    }

    public static TheoryData<string, byte[]> DeniedQueries => new()
    {
        { "data in labels, TXT", WireBuilder.Query("c2VjcmV0.exfil.test", 16) },
        { "data in labels, A with EDNS", WireBuilder.Query("c2VjcmV0LXRva2VuLWdocF94eXo.a1.exfil.test", 1, edns: 1232) },
        { "HTTPS", WireBuilder.Query("exfil.test", 65) },
        { "look-alike suffix", WireBuilder.Query("allowed.test.exfil.test", 1) },
        { "apex of a wildcard-only pattern", WireBuilder.Query("notallowed.test", 1) },
        { "label containing a dot", WireBuilder.Header(9, 0x0100, 1).U8(9).Bytes("x.allowed"u8.ToArray()).Name("test").U16(1).U16(1).ToArray() },
        { "binary label", WireBuilder.Header(9, 0x0100, 1).U8(3).Bytes(0, 0xff, 0x2e).Name("allowed.test").U16(1).U16(1).ToArray() },
        { "root", WireBuilder.Query(".", 2) },
        { "zone transfer of a denied name", WireBuilder.Query("exfil.test", 252) },
    };

    [Theory]
    [MemberData(nameof(DeniedQueries))]
    public async Task DeniedName_BlockMode_NxDomainAndNothingReachesUpstream(string what, byte[] query)
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var udp = Parse(await DnsTestClient.UdpAsync(s.V4, query));
        var tcp = Parse(await DnsTestClient.TcpAsync(s.V4, query));

        Assert.True(udp.ReturnCode == ReturnCode.NxDomain, what);
        Assert.Equal(ReturnCode.NxDomain, tcp.ReturnCode);
        Assert.Empty(udp.AnswerRecords);
        Assert.Empty(_upstream.Log);
        Assert.Equal(0, _upstream.Arrivals);
        Assert.Empty(s.Sink.Added);
        Assert.All(s.Events.Dns, e => Assert.Equal((Decision.Deny, NetworkEvent.Blocked), (e.Decision, e.Action)));
        Assert.Equal(2, s.Events.Dns.Count);
        Assert.Equal(2, s.Server.Stats.Denied);
    }

    [Fact]
    public async Task DeniedName_BlockMode_EventNamesTheRule()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("C2VjcmV0.Exfil.test", 16));
        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Header(9, 0x0100, 1).U8(9).Bytes("x.allowed"u8.ToArray()).Name("test").U16(1).U16(1).ToArray());

        var events = s.Events.Dns;
        Assert.Equal(("c2vjcmv0.exfil.test", "TXT", PolicyEngine.RuleNotAllowed), (events[0].Host, events[0].QueryType, events[0].Rule));
        Assert.Equal(("x\\046allowed.test", PolicyEngine.RuleBadHost), (events[1].Host, events[1].Rule));
    }

    [Fact]
    public async Task DeniedName_AuditMode_ForwardedAndRecordedAsDenied_NotAllowedInFirewall()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], EgressMode.Audit);

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("c2VjcmV0.exfil.test", 1)));

        Assert.Equal(TestUpstream.ExfilV4, Assert.IsType<ARecord>(Assert.Single(answer.AnswerRecords)).Address);
        Assert.Equal("c2vjcmv0.exfil.test", Assert.Single(_upstream.Log).Name);
        var e = Assert.Single(s.Events.Dns);
        Assert.Equal((Decision.Deny, NetworkEvent.Passed, PolicyEngine.RuleNotAllowed), (e.Decision, e.Action, e.Rule));
        Assert.Empty(s.Sink.Added);
        Assert.Equal(1, s.Server.Stats.Denied);
    }

    [Fact]
    public async Task AllowedName_AuditMode_AddressesStillAllowed()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], EgressMode.Audit);

        await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1));

        Assert.Equal(TestUpstream.AllowedV4, Assert.Single(s.Sink.Added).Address);
        Assert.Equal((Decision.Allow, NetworkEvent.Passed), (s.Events.Dns[0].Decision, s.Events.Dns[0].Action));
    }

    [Fact]
    public async Task CnameChain_FinalAddressesAllowedWithTheQueriedNamesGrants()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var a = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("www.allowed.test", 1)));
        var aaaa = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("www.allowed.test", 28)));

        // the client sees the whole chain; the A record's TTL (7200 upstream) is capped to the allow time (1 h)
        Assert.Equal(3, a.AnswerRecords.Count);
        Assert.Equal(TestUpstream.EdgeV4, ((ARecord)a.AnswerRecords[2]).Address);
        Assert.Equal(3600, a.AnswerRecords[2].TimeToLive);
        Assert.Equal(TestUpstream.EdgeV6, ((AaaaRecord)aaaa.AnswerRecords[2]).Address);

        var added = s.Sink.Added.ToArray();
        Assert.Equal(2, added.Length);
        Assert.Equal(TestUpstream.EdgeV4, added[0].Address);
        Assert.Equal(TimeSpan.FromHours(1), added[0].Ttl);
        Assert.Equal(TestUpstream.EdgeV6, added[1].Address);
        Assert.Equal(TimeSpan.FromSeconds(60), added[1].Ttl); // TTL 0 upstream: the floor
        var expectedGrants = new[] { new PortGrant(8443, Transport.Tcp), new PortGrant(443, Transport.Tcp) };
        Assert.All(added, x => Assert.Equal(expectedGrants.OrderBy(g => g.Port), x.Grants.OrderBy(g => g.Port)));

        // edge*.cdn.test themselves stay denied: asking for them directly is blocked and not forwarded
        var direct = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("edge2.cdn.test", 1)));
        Assert.Equal(ReturnCode.NxDomain, direct.ReturnCode);
        Assert.Equal(2, _upstream.Log.Count);
    }

    [Fact]
    public async Task Sink_IsAwaitedBeforeTheAnswerIsSent()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sink = new RecordingSink { Gate = gate.Task };
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], sink: sink);

        var pending = DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1), TimeSpan.FromSeconds(3));
        await Task.Delay(500);
        Assert.False(pending.IsCompleted, "the answer left before the firewall had the address");
        Assert.Single(_upstream.Log); // the upstream already answered: the server is waiting on the sink
        Assert.Empty(sink.Added);

        gate.SetResult();
        var answer = Parse(await pending);
        Assert.Single(answer.AnswerRecords);
        Assert.Single(sink.Added);
    }

    [Fact]
    public async Task Sink_Fails_BlockModeAnswersServFail()
    {
        var sink = new RecordingSink { Failure = new InvalidOperationException("nft set full") };
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], sink: sink);

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));

        Assert.Equal(ReturnCode.ServerFailure, answer.ReturnCode);
        Assert.Empty(answer.AnswerRecords);
        Assert.Equal(1, s.Server.Stats.SinkFailures);
    }

    [Fact]
    public async Task TruncatedUdpAnswer_RetriedOverTcp_ClientToldToUseTcp()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        // no EDNS: the client takes 512 bytes; the upstream truncates over UDP, the server retries over TCP
        var udp = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16)));
        Assert.Equal(
            [TransportProtocol.Udp, TransportProtocol.Tcp],
            _upstream.Log.Select(r => r.Transport));
        Assert.True(udp.IsTruncated);
        Assert.Empty(udp.AnswerRecords);

        // the client then asks over TCP and gets everything
        var tcp = Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16)));
        Assert.False(tcp.IsTruncated);
        Assert.Equal(12, Assert.IsType<TxtRecord>(Assert.Single(tcp.AnswerRecords)).TextParts.Count());

        // a client with a large EDNS buffer gets it over UDP in one go
        var large = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("big.allowed.test", 16, edns: 4096)));
        Assert.False(large.IsTruncated);
        Assert.Single(large.AnswerRecords);
    }

    [Fact]
    public async Task UpstreamDown_ServFailQuickly()
    {
        var closed = new IPEndPoint(IPAddress.Loopback, TestUpstream.FreePort(IPAddress.Loopback));
        await using var s = await ServerUnderTest.StartAsync([closed]);

        var watch = Stopwatch.StartNew();
        var udp = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));
        var tcp = Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));
        watch.Stop();

        Assert.Equal(ReturnCode.ServerFailure, udp.ReturnCode);
        Assert.Equal(ReturnCode.ServerFailure, tcp.ReturnCode);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"took {watch.Elapsed}");
        Assert.Equal(2, s.Server.Stats.UpstreamFailures);
        Assert.Empty(s.Sink.Added);
    }

    [Fact]
    public async Task UpstreamSilent_ServFailAfterTheQueryTimeout_NextUpstreamTried()
    {
        using var silent = new RawUpstream(_ => []);
        await using var s = await ServerUnderTest.StartAsync(
            [silent.Endpoint, _upstream.Endpoint],
            configure: o => o with { UpstreamAttemptTimeout = TimeSpan.FromMilliseconds(300), QueryTimeout = TimeSpan.FromSeconds(2) });

        var watch = Stopwatch.StartNew();
        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));

        Assert.Equal(ReturnCode.NoError, answer.ReturnCode); // the second upstream answered
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2));
        Assert.Equal(1, silent.Received);

        await using var alone = await ServerUnderTest.StartAsync([silent.Endpoint], configure: o => o with { UpstreamAttemptTimeout = TimeSpan.FromSeconds(5), QueryTimeout = TimeSpan.FromMilliseconds(700) });
        watch.Restart();
        var failed = Parse(await DnsTestClient.UdpAsync(alone.V4, WireBuilder.Query("allowed.test", 1)));
        Assert.Equal(ReturnCode.ServerFailure, failed.ReturnCode);
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(600), TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task SpoofedReplies_WrongIdOrQuestion_Ignored()
    {
        using var spoofer = new RawUpstream(q =>
        {
            var id = (ushort)((q[0] << 8) | q[1]);
            return
            [
                WireBuilder.Header((ushort)(id ^ 1), 0x8180, 1, 1).Name("allowed.test").U16(1).U16(1).Pointer(12).U16(1).U16(1).U32(60).U16(4).Bytes(6, 6, 6, 6).ToArray(),
                WireBuilder.Header(id, 0x8180, 1, 1).Name("evil.test").U16(1).U16(1).Pointer(12).U16(1).U16(1).U32(60).U16(4).Bytes(6, 6, 6, 7).ToArray(),
                WireBuilder.Header(id, 0x8180, 1, 1).Name("ALLOWED.test").U16(1).U16(1).Pointer(12).U16(1).U16(1).U32(60).U16(4).Bytes(192, 0, 2, 99).ToArray(),
            ];
        });
        await using var s = await ServerUnderTest.StartAsync([spoofer.Endpoint]);

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));

        Assert.Equal(IPAddress.Parse("192.0.2.99"), ((ARecord)Assert.Single(answer.AnswerRecords)).Address);
        Assert.Equal(IPAddress.Parse("192.0.2.99"), Assert.Single(s.Sink.Added).Address);
    }

    [Fact]
    public async Task UnreadableUpstreamResponse_NeverPassedOn_ServFail()
    {
        using var broken = new RawUpstream(q =>
        {
            var id = (ushort)((q[0] << 8) | q[1]);

            // claims two answers, carries one and a half
            return [WireBuilder.Header(id, 0x8180, 1, 2).Name("allowed.test").U16(1).U16(1).Pointer(12).U16(1).U16(1).U32(60).U16(4).Bytes(192, 0, 2, 1).Pointer(12).U16(1).ToArray()];
        });
        await using var s = await ServerUnderTest.StartAsync([broken.Endpoint]);

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));

        Assert.Equal(ReturnCode.ServerFailure, answer.ReturnCode);
        Assert.Empty(s.Sink.Added);
        Assert.Equal(1, s.Server.Stats.UpstreamFailures);
    }

    [Fact]
    public async Task Addresses_LoopbackUnspecifiedMulticastSkipped_MappedIpv6AllowedAsIpv4()
    {
        using var odd = new RawUpstream(q =>
        {
            var id = (ushort)((q[0] << 8) | q[1]);
            var b = WireBuilder.Header(id, 0x8180, 1, 5).Name("allowed.test").U16(1).U16(1);
            foreach (var address in new[] { "127.0.0.1", "0.0.0.0", "224.0.0.1", "::ffff:192.0.2.55", "198.51.100.1" })
            {
                var bytes = IPAddress.Parse(address).GetAddressBytes();
                b.Pointer(12).U16((ushort)(bytes.Length == 4 ? 1 : 28)).U16(1).U32(60).U16((ushort)bytes.Length).Bytes(bytes);
            }

            return [b.ToArray()];
        });
        await using var s = await ServerUnderTest.StartAsync([odd.Endpoint]);

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));

        Assert.Equal(5, answer.AnswerRecords.Count); // the client gets the answer as it was
        Assert.Equal([IPAddress.Parse("192.0.2.55"), IPAddress.Parse("198.51.100.1")], s.Sink.Added.Select(a => a.Address));
    }

    [Fact]
    public async Task UnsupportedQueries_AnsweredWithoutForwarding()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var twoQuestions = WireBuilder.Header(3, 0x0100, 2).Name("allowed.test").U16(1).U16(1).Name("allowed.test").U16(28).U16(1).ToArray();
        Assert.Equal(ReturnCode.FormatError, Parse(await DnsTestClient.UdpAsync(s.V4, twoQuestions)).ReturnCode);

        var notify = WireBuilder.Header(4, 0x2000, 1).Name("allowed.test").U16(6).U16(1).ToArray();
        Assert.Equal(ReturnCode.NotImplemented, Parse(await DnsTestClient.UdpAsync(s.V4, notify)).ReturnCode);

        var axfr = Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("allowed.test", 252)));
        Assert.Equal(ReturnCode.Refused, axfr.ReturnCode);

        Assert.Empty(_upstream.Log);
        Assert.Equal(3, s.Server.Stats.Rejected);
    }

    [Fact]
    public async Task MalformedPackets_DroppedAndCounted_ServerKeepsAnswering()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        Assert.Null(await DnsTestClient.UdpAsync(s.V4, [1, 2, 3], TimeSpan.FromMilliseconds(300)));
        Assert.Null(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Header(1, 0x0100, 1).Labels("a").Pointer(12).U16(1).U16(1).ToArray(), TimeSpan.FromMilliseconds(300)));
        Assert.Null(await DnsTestClient.TcpAsync(s.V4, [0xff, 0xff, 0xff], TimeSpan.FromMilliseconds(500)));

        Assert.Single(Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))).AnswerRecords);
        Assert.Equal(3, s.Server.Stats.Malformed);
        Assert.Equal(1, _upstream.Arrivals); // only the valid query arrived upstream
    }

    [Fact]
    public async Task TcpConnection_SeveralQueriesInOrder()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(s.V4);

        var names = new[] { ("allowed.test", 1), ("exfil.test", 1), ("allowed.test", 28) };
        var framed = names.SelectMany((n, i) => Frame(WireBuilder.Query(n.Item1, (ushort)n.Item2, id: (ushort)(100 + i)))).ToArray();
        await socket.SendAsync(framed, SocketFlags.None);

        using var stream = new NetworkStream(socket);
        for (var i = 0; i < names.Length; i++)
        {
            var length = new byte[2];
            await stream.ReadExactlyAsync(length);
            var message = new byte[(length[0] << 8) | length[1]];
            await stream.ReadExactlyAsync(message);
            var parsed = DnsMessage.Parse(message);
            Assert.Equal(100 + i, parsed.TransactionID);
            Assert.Equal(i == 1 ? ReturnCode.NxDomain : ReturnCode.NoError, parsed.ReturnCode);
        }

        static byte[] Frame(byte[] q) => [(byte)(q.Length >> 8), (byte)q.Length, .. q];
    }

    [Fact]
    public async Task UpstreamIsTheServerItself_StartRefused()
    {
        var port = TestUpstream.FreePort(IPAddress.Loopback);
        var options = new DnsServerOptions
        {
            ListenEndpoints = [new IPEndPoint(IPAddress.Loopback, port)],
            Upstreams = [new IPEndPoint(IPAddress.Loopback, port)],
        };
        await using var server = new HardenRunner.Dns.DnsServer(options, ServerUnderTest.Policy(EgressMode.Block), new RecordingSink(), new RecordingEvents());

        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => server.StartAsync());
        Assert.Contains("loop", e.Message);
    }

    [Fact]
    public async Task ConfigureSocketFails_QueryFailsClosed_NothingSentUnmarked()
    {
        await using var s = await ServerUnderTest.StartAsync(
            [_upstream.Endpoint],
            configure: o => o with { ConfigureUpstreamSocket = _ => throw new SocketException((int)SocketError.AccessDenied) });

        var answer = Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)));

        Assert.Equal(ReturnCode.ServerFailure, answer.ReturnCode);
        Assert.Equal(0, _upstream.Arrivals);
    }

    [SkippableFact]
    public async Task UpstreamSockets_CarryTheApplianceMark()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "SO_MARK needs CAP_NET_ADMIN: run the tests as root");
        var marks = new List<(SocketType, int)>();
        await using var s = await ServerUnderTest.StartAsync(
            [_upstream.Endpoint],
            configure: o => o with
            {
                ConfigureUpstreamSocket = socket =>
                {
                    SocketMark.Apply(socket);
                    var value = new byte[4];
                    socket.GetRawSocketOption(1 /* SOL_SOCKET */, 36 /* SO_MARK */, value);
                    lock (marks)
                    {
                        marks.Add((socket.SocketType, BitConverter.ToInt32(value)));
                    }
                },
            });

        Assert.Single(Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))).AnswerRecords);
        Assert.Single(Parse(await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("allowed.test", 1))).AnswerRecords);

        Assert.Equal([(SocketType.Dgram, SocketMark.Appliance), (SocketType.Stream, SocketMark.Appliance)], marks);
    }

    [SkippableFact]
    public async Task DefaultOptions_MarkWithSocketMarkApply()
    {
        Skip.IfNot(Environment.IsPrivilegedProcess, "SO_MARK needs CAP_NET_ADMIN: run the tests as root");
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint], configure: o => o with { ConfigureUpstreamSocket = new DnsServerOptions { ListenEndpoints = [], Upstreams = [] }.ConfigureUpstreamSocket });

        Assert.Single(Parse(await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1))).AnswerRecords);
    }

    [Fact]
    public async Task ManyConcurrentQueries_AllAnswered()
    {
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var tasks = Enumerable.Range(0, 200).Select(i => i % 4 == 0
            ? DnsTestClient.TcpAsync(s.V4, WireBuilder.Query(i % 8 == 0 ? "allowed.test" : "exfil.test", 1, id: (ushort)i))
            : DnsTestClient.UdpAsync(i % 2 == 0 ? s.V4 : s.V6, WireBuilder.Query(i % 3 == 0 ? "exfil.test" : "allowed.test", 1, id: (ushort)i)));
        var answers = await Task.WhenAll(tasks);

        Assert.All(answers, a => Assert.NotNull(a));
        Assert.Equal(200, s.Server.Stats.Queries);
        Assert.Equal(200, s.Events.Dns.Count);
        Assert.DoesNotContain(_upstream.Log, r => r.Name == "exfil.test");
    }
}
