using System.Buffers;
using System.Net.Security;
using System.Text;
using HardenRunner.Proxy.Connection;

namespace HardenRunner.Tests.Proxy;

public sealed class ClientHelloReaderTests
{
    private static ClientHelloResult Read(byte[] bytes) => ClientHelloReader.Read(new ReadOnlySequence<byte>(bytes));

    [Fact]
    public void Read_HelloWithSniAndAlpn_ReturnsLowerCaseNameAndProtocols()
    {
        var r = Read(ClientHelloBuilder.Build("WWW.Allowed.Test", ["h2", "http/1.1"]));
        Assert.Equal(ClientHelloStatus.Complete, r.Status);
        Assert.Equal("www.allowed.test", r.Hello!.ServerName);
        Assert.True(r.Hello.OffersHttp2);
        Assert.True(r.Hello.OffersHttp11);
    }

    [Fact]
    public void Read_TrailingDotInSni_IsTrimmed()
    {
        Assert.Equal("allowed.test", Read(ClientHelloBuilder.Build("allowed.test."))!.Hello!.ServerName);
    }

    [Fact]
    public void Read_NoSni_CompleteWithoutName()
    {
        var r = Read(ClientHelloBuilder.Build(null, ["http/1.1"]));
        Assert.Equal(ClientHelloStatus.Complete, r.Status);
        Assert.Null(r.Hello!.ServerName);
    }

    [Fact]
    public void Read_HelloSplitOverManyRecords_IsReassembled()
    {
        var r = Read(ClientHelloBuilder.Build("split.allowed.test", ["h2"], recordSize: 7, padding: 3000));
        Assert.Equal(ClientHelloStatus.Complete, r.Status);
        Assert.Equal("split.allowed.test", r.Hello!.ServerName);
    }

    [Fact]
    public void Read_EveryPrefix_AsksForMoreUntilComplete()
    {
        var hello = ClientHelloBuilder.Build("allowed.test", ["h2"], recordSize: 50);
        for (var i = 1; i < hello.Length; i++)
        {
            var r = Read(hello[..i]);
            Assert.Equal(ClientHelloStatus.NeedMore, r.Status);
            Assert.InRange(r.Needed, i + 1, hello.Length);
        }

        Assert.Equal(ClientHelloStatus.Complete, Read(hello).Status);
    }

    [Fact]
    public void Read_MultiSegmentSequence_SameAsContiguous()
    {
        var hello = ClientHelloBuilder.Build("seg.allowed.test", ["http/1.1"]);
        var first = new Segment(hello.AsMemory(0, 3));
        var last = first.Append(hello.AsMemory(3, 40)).Append(hello.AsMemory(43));
        var r = ClientHelloReader.Read(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length));
        Assert.Equal("seg.allowed.test", r.Hello!.ServerName);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("SSH-2.0-OpenSSH_9.6\r\n")]
    [InlineData("\u0080\u0001\u0003")]
    public void Read_NotTls_SaysSoFromTheFirstBytes(string text)
    {
        Assert.Equal(ClientHelloStatus.NotTls, Read(Encoding.Latin1.GetBytes(text)).Status);
        Assert.Equal(ClientHelloStatus.NotTls, Read(Encoding.Latin1.GetBytes(text)[..1]).Status); // no waiting for more
    }

    public static TheoryData<string, byte[]> BadServerNames => new()
    {
        { "space", SniExtension("a b.test") },
        { "nul", SniExtension("allowed.test\0.evil") },
        { "non-ascii", SniExtension("bücher.test") },
        { "empty label", SniExtension("a..test") },
        { "too long label", SniExtension(new string('a', 64) + ".test") },
        { "two host names", TwoNames("a.test", "b.test") },
        { "list length lies", [0, 9, 0, 0, 3, (byte)'a', (byte)'.', (byte)'b'] },
        { "truncated entry", [0, 2, 0, 0] },
        { "empty extension", [] },
    };

    [Theory]
    [MemberData(nameof(BadServerNames))]
    public void Read_InvalidServerName_IsMalformedNeverANameOrNoName(string why, byte[] extension)
    {
        var r = Read(ClientHelloBuilder.Build(null, rawSniExtension: extension));
        Assert.True(r.Status == ClientHelloStatus.Malformed, why);
        Assert.Null(r.Hello);
    }

    [Fact]
    public void Read_NonHandshakeRecordInsideHello_IsMalformed()
    {
        var hello = ClientHelloBuilder.Build("allowed.test", recordSize: 20);
        hello[25] = 23; // second record claims application data
        Assert.Equal(ClientHelloStatus.Malformed, Read(hello).Status);
    }

    [Fact]
    public void Read_ServerHelloTypeFirst_IsMalformed()
    {
        var hello = ClientHelloBuilder.Build("allowed.test");
        hello[5] = 2;
        Assert.Equal(ClientHelloStatus.Malformed, Read(hello).Status);
    }

    [Fact]
    public void Read_HugeDeclaredLength_IsMalformedWithoutWaiting()
    {
        Assert.Equal(ClientHelloStatus.Malformed, Read([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]).Status);
        Assert.Equal(ClientHelloStatus.Malformed, Read([22, 3, 1, 0xff, 0xff]).Status);
    }

    [Fact]
    public async Task Read_RealSslStreamHello_ParsesSniAndAlpn()
    {
        var bytes = await ClientHelloBuilder.CaptureAsync("real.allowed.test", [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11]);
        var r = Read(bytes);
        Assert.Equal(ClientHelloStatus.Complete, r.Status);
        Assert.Equal("real.allowed.test", r.Hello!.ServerName);
        Assert.True(r.Hello.OffersHttp2);
    }

    private static byte[] SniExtension(string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        var list = new List<byte> { 0, (byte)(bytes.Length >> 8), (byte)bytes.Length };
        list.AddRange(bytes);
        return [(byte)(list.Count >> 8), (byte)list.Count, .. list];
    }

    private static byte[] TwoNames(string a, string b)
    {
        var list = new List<byte>();
        foreach (var n in new[] { a, b })
        {
            list.AddRange(new byte[] { 0, 0, (byte)n.Length });
            list.AddRange(Encoding.ASCII.GetBytes(n));
        }

        return [(byte)(list.Count >> 8), (byte)list.Count, .. list];
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
