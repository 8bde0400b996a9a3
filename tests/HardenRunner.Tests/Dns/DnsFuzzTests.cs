using System.Diagnostics;
using System.Net.Sockets;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Dns;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Dns;

/// <summary>
/// Random and mutated packets against the running server (and, in-process, against the parsers). Seeded, bounded in
/// count and time; the server must count what it drops, never stop serving, and answer a valid query afterwards.
/// </summary>
public sealed class DnsFuzzTests(ITestOutputHelper output) : IDisposable
{
    private const int UdpPackets = 100_000;
    private const int TcpMessages = 3_000;
    private const int Seed = 20261126;

    private readonly TestUpstream _upstream = TestUpstream.Start();

    public void Dispose() => _upstream.Dispose();

    private static readonly byte[][] Seeds =
    [
        WireBuilder.Query("allowed.test", 1),
        WireBuilder.Query("allowed.test", 28, edns: 1232),
        WireBuilder.Query("www.allowed.test", 65, edns: 4096),
        WireBuilder.Query("c2VjcmV0.exfil.test", 16),
        WireBuilder.Query("a.b.c.d.e.f.g.exfil.test", 255, edns: 512),
        WireBuilder.Header(1, 0x0100, 1, 0, 0, 1).Name("allowed.test").U16(1).U16(1).U8(0).U16(41).U16(1232).U32(0x8000).U16(12).U16(10).U16(8).Bytes(1, 2, 3, 4, 5, 6, 7, 8).ToArray(),
    ];

    [Fact]
    public async Task Fuzz_100000UdpAndThousandsOfTcpPackets_ServerSurvivesCountsAndAnswers()
    {
        var rng = new Random(Seed);
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);
        var expectedMalformed = 0;
        var watch = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(90);

        using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            client.ReceiveBufferSize = 64 * 1024; // answers are not read: the kernel drops them once this is full
            await client.ConnectAsync(s.V4);
            for (var i = 0; i < UdpPackets && watch.Elapsed < deadline; i++)
            {
                var packet = Mutate(rng);
                if (DnsQuery.TryParse(packet, out _) == QueryParseResult.Malformed)
                {
                    expectedMalformed++;
                }

                client.Send(packet);

                // pace: never more than 200 packets ahead of the server, so its socket buffer does not overflow
                if (i % 100 == 99)
                {
                    await WaitUntilAsync(() => s.Server.Stats.Packets >= i + 1 - 200, TimeSpan.FromSeconds(5));
                }
            }
        }

        var udpTime = watch.Elapsed;
        await WaitUntilAsync(() => s.Server.Stats.Packets >= UdpPackets, TimeSpan.FromSeconds(10));
        var afterUdp = s.Server.Stats;

        // TCP: one mutated (often mis-framed) message per connection, a few thousand connections
        var tcpMalformedBefore = afterUdp.Malformed;
        for (var i = 0; i < TcpMessages && watch.Elapsed < deadline; i++)
        {
            var packet = Mutate(rng);
            var declared = rng.Next(10) switch
            {
                0 => packet.Length + rng.Next(1, 50), // claims more than it sends
                1 => Math.Max(0, packet.Length - rng.Next(1, 10)), // claims less
                2 => 0,
                _ => packet.Length,
            };
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await tcp.ConnectAsync(s.V4);
            tcp.Send([(byte)(declared >> 8), (byte)declared, .. packet]);
            tcp.Shutdown(SocketShutdown.Send);
        }

        await WaitUntilAsync(() => s.Server.Stats.Malformed > tcpMalformedBefore + (TcpMessages / 10), TimeSpan.FromSeconds(10));
        var tcpTime = watch.Elapsed - udpTime;
        watch.Stop();

        // still serving, on every socket
        var udpAnswer = DnsMessage.Parse((await DnsTestClient.UdpAsync(s.V4, WireBuilder.Query("allowed.test", 1)))!);
        var tcpAnswer = DnsMessage.Parse((await DnsTestClient.TcpAsync(s.V4, WireBuilder.Query("allowed.test", 28)))!);
        var v6Answer = DnsMessage.Parse((await DnsTestClient.UdpAsync(s.V6, WireBuilder.Query("allowed.test", 1)))!);
        Assert.Equal(TestUpstream.AllowedV4, ((ARecord)Assert.Single(udpAnswer.AnswerRecords)).Address);
        Assert.Equal(TestUpstream.AllowedV6, ((AaaaRecord)Assert.Single(tcpAnswer.AnswerRecords)).Address);
        Assert.Single(v6Answer.AnswerRecords);

        var stats = s.Server.Stats;
        output.WriteLine($"UDP: {UdpPackets} packets in {udpTime.TotalSeconds:0.00} s; TCP: {TcpMessages} connections in {tcpTime.TotalSeconds:0.00} s");
        output.WriteLine($"expected malformed (UDP) {expectedMalformed}; server stats {stats}");
        output.WriteLine($"upstream saw {_upstream.Log.Count} queries; names: {string.Join(", ", _upstream.Log.Select(r => r.Name).Distinct().Take(10))}");

        Assert.True(watch.Elapsed < deadline, $"fuzzing took {watch.Elapsed}");
        Assert.True(afterUdp.Packets >= UdpPackets, $"server read {afterUdp.Packets} of {UdpPackets} datagrams");
        Assert.Equal(expectedMalformed, afterUdp.Malformed);
        Assert.True(expectedMalformed > UdpPackets / 2, $"only {expectedMalformed} malformed packets: the mutations are too mild");
        Assert.True(stats.Malformed > tcpMalformedBefore + (TcpMessages / 10), $"TCP malformed {stats.Malformed - tcpMalformedBefore}");

        // nothing but allowed names went upstream, whatever the mutations made of the names
        Assert.All(_upstream.Log, r => Assert.True(r.Name == "allowed.test" || r.Name.EndsWith(".allowed.test", StringComparison.Ordinal), r.Name));
    }

    [Fact]
    public void Fuzz_ParsersInProcess_NeverThrow()
    {
        var rng = new Random(Seed + 1);
        var responses = SampleResponses();
        var watch = Stopwatch.StartNew();
        var readable = 0;
        for (var i = 0; i < 200_000; i++)
        {
            _ = DnsQuery.TryParse(Mutate(rng), out _);
            var response = MutateFrom(rng, responses[rng.Next(responses.Length)]);
            if (DnsResponseRewriter.Rewrite(response, 3600) is { } rewritten)
            {
                readable++;
                Assert.True(rewritten.Message.Length <= response.Length);
            }
        }

        output.WriteLine($"200000 queries and responses in {watch.Elapsed.TotalSeconds:0.00} s; {readable} mutated responses still readable");
        Assert.InRange(readable, 1000, 199_000);
    }

    /// <summary>Real responses: the upstream's answers for the zone, plus the hand-built HTTPS/CNAME message.</summary>
    private byte[][] SampleResponses()
    {
        var queries = new[] { ("allowed.test", 65), ("www.allowed.test", 1), ("allowed.test", 15), ("_imaps._tcp.allowed.test", 33), ("big.allowed.test", 16), ("nothing.allowed.test", 1) };
        return [.. queries.Select(q => DnsTestClient.TcpAsync(_upstream.Endpoint, WireBuilder.Query(q.Item1, (ushort)q.Item2, edns: 4096)).GetAwaiter().GetResult()!)];
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan limit)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < limit)
        {
            await Task.Delay(1);
        }
    }

    private static byte[] Mutate(Random rng) => MutateFrom(rng, Seeds[rng.Next(Seeds.Length)]);

    private static byte[] MutateFrom(Random rng, byte[] seed)
    {
        var p = (byte[])seed.Clone();
        switch (rng.Next(12))
        {
            case 0: // pure noise
                {
                    var noise = new byte[rng.Next(0, 600)];
                    rng.NextBytes(noise);
                    return noise;
                }

            case 1: // bit flips
                for (var n = rng.Next(1, 9); n > 0; n--)
                {
                    var i = rng.Next(p.Length);
                    p[i] ^= (byte)(1 << rng.Next(8));
                }

                return p;
            case 2: // truncation
                return p[..rng.Next(p.Length)];
            case 3: // bogus section counts
                p[4 + (2 * rng.Next(4))] = (byte)rng.Next(256);
                p[5 + (2 * rng.Next(4))] = (byte)rng.Next(256);
                return p;
            case 4: // compression loops and wild pointers in the first name
                {
                    var b = WireBuilder.Header((ushort)rng.Next(65536), 0x0100, 1);
                    for (var n = rng.Next(0, 3); n > 0; n--)
                    {
                        b.Labels("x");
                    }

                    b.Pointer(rng.Next(2) == 0 ? 12 : rng.Next(0, 0x3fff));
                    return b.U16(1).U16(1).ToArray();
                }

            case 5: // huge labels and over-long names
                {
                    var b = WireBuilder.Header((ushort)rng.Next(65536), 0x0100, 1);
                    for (var n = rng.Next(1, 8); n > 0; n--)
                    {
                        var len = rng.Next(50, 256);
                        b.U8((byte)len);
                        var label = new byte[Math.Min(len, 63)];
                        Array.Fill(label, (byte)'a');
                        b.Bytes(label);
                    }

                    return b.U8(0).U16(1).U16(1).ToArray();
                }

            case 6: // random byte overwrites
                for (var n = rng.Next(1, 6); n > 0; n--)
                {
                    p[rng.Next(p.Length)] = (byte)rng.Next(256);
                }

                return p;
            case 7: // insertion
                {
                    var at = rng.Next(p.Length + 1);
                    var extra = new byte[rng.Next(1, 20)];
                    rng.NextBytes(extra);
                    return [.. p[..at], .. extra, .. p[at..]];
                }

            case 8: // deletion
                {
                    var at = rng.Next(p.Length);
                    var count = Math.Min(rng.Next(1, 10), p.Length - at);
                    return [.. p[..at], .. p[(at + count)..]];
                }

            case 9: // header flags: QR, opcodes, TC, Z
                p[2] = (byte)rng.Next(256);
                p[3] = (byte)rng.Next(256);
                return p;
            case 10: // two messages glued together
                return [.. p, .. Seeds[rng.Next(Seeds.Length)]];
            default: // a valid packet with a new id
                p[0] = (byte)rng.Next(256);
                p[1] = (byte)rng.Next(256);
                return p;
        }
    }
}
