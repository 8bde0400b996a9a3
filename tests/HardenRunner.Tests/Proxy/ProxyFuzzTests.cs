using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Text;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy.Connection;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// Seeded fuzzing, bounded in count and time. 100 000 random and mutated ClientHellos go through the parsing component
/// directly (<see cref="ClientHelloReader"/>, the code the proxy runs on every HTTPS connection); a few thousand more
/// mutated hellos and malformed HTTP/1.1 requests (request-smuggling shapes) go to the running proxy over sockets. The
/// proxy must stay up, the upstream must receive nothing at all, and a valid request must work afterwards.
/// </summary>
public sealed class ProxyFuzzTests(ITestOutputHelper output)
{
    private const int Seed = 20261127;
    private const int ParserHellos = 100_000;
    private const int SocketHellos = 5_000;
    private const int PlainRequests = 5_000;
    private const int TlsRequests = 500;
    private const int Parallelism = 8;

    private const string Policy = """
        allowed-endpoints:
          - allowed.test:{https}
          - allowed.test:{http}
        """;

    [Fact]
    public async Task ClientHelloReader_100000RandomAndMutatedHellos_NeverThrowsAndOnlyValidNames()
    {
        var rng = new Random(Seed);
        var seeds = await SeedHellosAsync();
        var counts = new Dictionary<ClientHelloStatus, int>();
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < ParserHellos; i++)
        {
            var bytes = Mutate(rng, seeds);
            var sequence = rng.Next(4) == 0 ? Fragmented(bytes, rng) : new ReadOnlySequence<byte>(bytes);
            var r = ClientHelloReader.Read(sequence);
            counts[r.Status] = counts.GetValueOrDefault(r.Status) + 1;
            switch (r.Status)
            {
                case ClientHelloStatus.Complete:
                    if (r.Hello!.ServerName is { } name)
                    {
                        Assert.True(HostName.IsValidAsciiName(name) && name == name.ToLowerInvariant(), $"invalid name accepted: '{name}'");
                    }

                    break;
                case ClientHelloStatus.NeedMore:
                    Assert.InRange(r.Needed, bytes.Length + 1, ClientHelloReader.MaxBufferedBytes);
                    break;
                default:
                    Assert.NotNull(r.Problem);
                    break;
            }
        }

        output.WriteLine($"{ParserHellos} hellos in {watch.ElapsedMilliseconds} ms: {string.Join(", ", counts.Select(c => $"{c.Key}={c.Value}"))}");
        Assert.True(counts.GetValueOrDefault(ClientHelloStatus.Complete) > 1000, "the mutations should keep many hellos valid");
        Assert.True(counts.GetValueOrDefault(ClientHelloStatus.Malformed) > 1000);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public async Task Proxy_MutatedHellosAndMalformedHttp_StaysUpForwardsNothingThenServesAValidRequest()
    {
        var rng = new Random(Seed + 1);
        var seeds = await SeedHellosAsync();
        await using var h = await ProxyHarness.StartAsync(Policy, EgressMode.Block);
        var watch = Stopwatch.StartNew();
        var deadline = TimeSpan.FromSeconds(75);

        // 1. mutated ClientHellos, one per connection, several connections at a time
        var hellos = Enumerable.Range(0, SocketHellos).Select(_ => Mutate(rng, seeds)).ToList();
        var helloOutcomes = new ConcurrentDictionary<string, int>();
        await Parallel.ForEachAsync(hellos, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (hello, _) =>
        {
            if (watch.Elapsed > deadline)
            {
                return;
            }

            var r = await h.ExchangeAsync(true, h.HttpsTarget, hello, TimeSpan.FromSeconds(10));
            Assert.True(r.Closed, "the proxy kept a fuzzed connection open");
            helloOutcomes.AddOrUpdate(r.Data.Length == 0 ? "closed" : r.Data[0] == 21 ? "alert" : r.Data[0] == 22 ? "handshake" : "other", 1, (_, n) => n + 1);
        });
        output.WriteLine($"{SocketHellos} hellos over sockets: {string.Join(", ", helloOutcomes.Select(o => $"{o.Key}={o.Value}"))} ({watch.ElapsedMilliseconds} ms)");

        // 2. malformed HTTP/1.1 on the HTTP port
        var requests = Enumerable.Range(0, PlainRequests).Select(i => MalformedRequest(rng, i)).ToList();
        var statuses = new ConcurrentDictionary<string, int>();
        await Parallel.ForEachAsync(requests, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (request, _) =>
        {
            if (watch.Elapsed > deadline)
            {
                return;
            }

            var r = await h.ExchangeAsync(false, h.HttpTarget, request.Bytes, TimeSpan.FromSeconds(10), halfClose: false);
            Assert.True(r.Closed, $"{request.Shape}: the proxy kept the connection open");
            var status = Status(r.Text);
            Assert.True(status is "" or "400" or "414" or "431", $"{request.Shape}: answered {status}: {request.Text[..Math.Min(200, request.Text.Length)]}");
            statuses.AddOrUpdate($"{request.Shape}:{(status == "" ? "closed" : status)}", 1, (_, n) => n + 1);
        });

        // 3. malformed HTTP/1.1 inside intercepted TLS
        var tlsRequests = Enumerable.Range(0, TlsRequests).Select(i => MalformedRequest(rng, i)).ToList();
        await Parallel.ForEachAsync(tlsRequests, new ParallelOptions { MaxDegreeOfParallelism = Parallelism }, async (request, _) =>
        {
            if (watch.Elapsed > deadline)
            {
                return;
            }

            await using var tls = await h.TlsAsync("allowed.test", SslApplicationProtocol.Http11);
            var status = await SendRawAsync(tls, request.Bytes);
            Assert.True(status is "" or "400" or "414" or "431", $"tls {request.Shape}: answered {status}");
            statuses.AddOrUpdate($"tls {request.Shape}:{(status == "" ? "closed" : status)}", 1, (_, n) => n + 1);
        });
        output.WriteLine(string.Join("\n", statuses.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key} = {s.Value}")));
        output.WriteLine($"total {watch.ElapsedMilliseconds} ms");
        Assert.True(watch.Elapsed < deadline, $"fuzzing took {watch.Elapsed}");

        // no request reached the upstream. The only upstream connections are those opened for the allowed name while
        // a client's handshake ran (a handshake TLS accepted: the intercepted malformed requests'); none carried a
        // request, and every one closed with its client's connection
        var closing = Stopwatch.StartNew();
        while (h.Proxy.OpenUpstreamConnections("allowed.test", h.HttpsTarget.Port) > 0 && closing.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, h.Proxy.OpenUpstreamConnections("allowed.test", h.HttpsTarget.Port));
        Assert.Empty(h.Upstream.Requests);
        output.WriteLine($"upstream connections opened during handshakes: {h.Proxy.EarlyUpstreamConnections}; upstream saw {h.Upstream.Connections}");
        Assert.InRange(h.Upstream.Connections, 0, h.Proxy.EarlyUpstreamConnections);

        // and the proxy still serves
        using var client = h.Client();
        Assert.Equal("upstream:main HTTP/1.1", await client.GetStringAsync(h.Url("allowed.test", "/after-fuzz")));
        using var plain = h.Client();
        Assert.Equal(HttpStatusCode.OK, (await plain.GetAsync(h.Url("allowed.test", "/after-fuzz-plain", tls: false))).StatusCode);
        Assert.Equal(2, h.Upstream.Requests.Count);
    }

    private static string Status(string response) =>
        response.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && response.Length >= 12 ? response[9..12] : "";

    private static async Task<string> SendRawAsync(Stream tls, byte[] request)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = new MemoryStream();
        try
        {
            await tls.WriteAsync(request, cts.Token);
            var buffer = new byte[4096];
            int n;
            while ((n = await tls.ReadAsync(buffer, cts.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
        }

        Assert.False(cts.IsCancellationRequested, "the proxy kept a malformed TLS request's connection open");
        return Status(Encoding.Latin1.GetString(received.ToArray()));
    }

    private static async Task<byte[][]> SeedHellosAsync() =>
    [
        ClientHelloBuilder.Build("allowed.test", ["h2", "http/1.1"]),
        ClientHelloBuilder.Build("www.allowed.test", ["http/1.1"], recordSize: 64),
        ClientHelloBuilder.Build(null, ["h2"]),
        ClientHelloBuilder.Build("exfil.test", null, padding: 600),
        ClientHelloBuilder.Build("a.b.c.allowed.test", ["h2", "acme-tls/1"], withSupportedVersions: false),
        await ClientHelloBuilder.CaptureAsync("allowed.test", [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11]),
    ];

    /// <summary>One fuzz case: a seed mutated a few times, or random bytes (sometimes behind a plausible record header).</summary>
    private static byte[] Mutate(Random rng, byte[][] seeds)
    {
        var kind = rng.Next(10);
        if (kind == 0)
        {
            var random = new byte[rng.Next(1, 600)];
            rng.NextBytes(random);
            if (rng.Next(2) == 0 && random.Length > 5)
            {
                random[0] = 22;
                random[1] = 3;
                random[2] = (byte)rng.Next(5);
                random[3] = (byte)((random.Length - 5) >> 8);
                random[4] = (byte)(random.Length - 5);
                random[5] = 1;
            }

            return random;
        }

        var bytes = seeds[rng.Next(seeds.Length)].ToList();
        var rounds = rng.Next(1, 4);
        for (var r = 0; r < rounds && bytes.Count > 0; r++)
        {
            var at = rng.Next(bytes.Count);
            switch (rng.Next(8))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)rng.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at); // truncate
                    break;
                case 3:
                    bytes.InsertRange(at, RandomBytes(rng, rng.Next(1, 16)));
                    break;
                case 4:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, rng.Next(1, 16)));
                    break;
                case 5:
                    // a length field somewhere: record, handshake, extension list, SNI
                    var field = rng.Next(Math.Min(bytes.Count - 1, 200));
                    bytes[field] = (byte)rng.Next(256);
                    if (field + 1 < bytes.Count)
                    {
                        bytes[field + 1] = (byte)rng.Next(256);
                    }

                    break;
                case 6:
                    bytes.AddRange(RandomBytes(rng, rng.Next(1, 64)));
                    break;
                default:
                    // rewrite an SNI byte into something a host name must not contain
                    var sni = IndexOf(bytes, "allowed"u8.ToArray());
                    if (sni >= 0)
                    {
                        const string bad = "\0 /:@.\u00ff-_";
                        bytes[sni + rng.Next(7)] = (byte)bad[rng.Next(bad.Length)];
                    }

                    break;
            }
        }

        return [.. bytes];
    }

    private sealed record Malformed(string Shape, byte[] Bytes)
    {
        public string Text => Encoding.Latin1.GetString(Bytes);
    }

    /// <summary>A request that is malformed by construction (one smuggling shape), with random harmless variation around it.</summary>
    private static Malformed MalformedRequest(Random rng, int i)
    {
        var path = "/" + RandomToken(rng, rng.Next(1, 20));
        var filler = new StringBuilder();
        for (var k = rng.Next(4); k > 0; k--)
        {
            filler.Append("X-").Append(RandomToken(rng, rng.Next(1, 10))).Append(": ").Append(RandomToken(rng, rng.Next(0, 30))).Append("\r\n");
        }

        var host = rng.Next(2) == 0 ? "Host: allowed.test\r\n" : "host: ALLOWED.test\r\n";
        var te = rng.Next(3) switch { 0 => "Transfer-Encoding: chunked", 1 => "transfer-encoding: chunked", _ => "Transfer-Encoding:chunked" };
        var (shape, text) = (i % 7) switch
        {
            0 => ("cl+te", rng.Next(2) == 0
                ? $"POST {path} HTTP/1.1\r\n{host}Content-Length: {rng.Next(0, 40)}\r\n{filler}{te}\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
                : $"POST {path} HTTP/1.1\r\n{host}{te}\r\n{filler}Content-Length: {rng.Next(0, 40)}\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            1 => ("dup-cl", $"POST {path} HTTP/1.1\r\n{host}Content-Length: {rng.Next(1, 9)}\r\n{filler}Content-Length: {rng.Next(10, 99)}\r\n\r\nabcdefghijklmnop"),
            2 => ("obs-fold", $"GET {path} HTTP/1.1\r\n{host}X-Folded: a\r\n{(rng.Next(2) == 0 ? " " : "\t")}{RandomToken(rng, 5)}\r\n{filler}\r\n"),
            3 => ("bare-lf", rng.Next(3) switch
            {
                0 => $"GET {path} HTTP/1.1\n{host}{filler}\r\n",
                1 => $"GET {path} HTTP/1.1\r\n{host.TrimEnd('\r', '\n')}\n{filler}\r\n",
                _ => $"GET {path} HTTP/1.1\r\n{host}{filler}X-Last: 1\n\n",
            }),
            4 => ("long-header", $"GET {path} HTTP/1.1\r\n{host}X-Big: {new string('a', 33 * 1024 + rng.Next(4096))}\r\n{filler}\r\n"),
            5 => ("long-headers-total", $"GET {path} HTTP/1.1\r\n{host}{string.Concat(Enumerable.Range(0, 40).Select(n => $"X-H{n}: {new string('b', 1000)}\r\n"))}\r\n"),
            _ => ("long-request-line", $"GET {path}{new string('c', 9 * 1024 + rng.Next(2048))} HTTP/1.1\r\n{host}\r\n"),
        };
        return new Malformed(shape, Encoding.Latin1.GetBytes(text));
    }

    private static string RandomToken(Random rng, int length)
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-";
        return new string(Enumerable.Range(0, length).Select(_ => alphabet[rng.Next(alphabet.Length)]).ToArray());
    }

    private static byte[] RandomBytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    private static int IndexOf(List<byte> haystack, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= haystack.Count; i++)
        {
            var match = true;
            for (var j = 0; j < needle.Length && match; j++)
            {
                match = haystack[i + j] == needle[j];
            }

            if (match)
            {
                return i;
            }
        }

        return -1;
    }

    private static ReadOnlySequence<byte> Fragmented(byte[] bytes, Random rng)
    {
        if (bytes.Length < 3)
        {
            return new ReadOnlySequence<byte>(bytes);
        }

        var cut1 = rng.Next(1, bytes.Length - 1);
        var cut2 = rng.Next(cut1, bytes.Length);
        var first = new Segment(bytes.AsMemory(0, cut1));
        var last = first.Append(bytes.AsMemory(cut1, cut2 - cut1)).Append(bytes.AsMemory(cut2));
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
