using HardenRunner.Dns;

namespace HardenRunner.Tests.Dns;

public class DnsQueryTests
{
    [Fact]
    public void TryParse_StandardQuery_ReadsNameTypeAndQuestionEnd()
    {
        var packet = WireBuilder.Query("WWW.Allowed.Test", 28);

        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(packet, out var q));
        Assert.Equal("www.allowed.test", q.Name);
        Assert.True(q.IsHostName);
        Assert.Equal(28, q.Type);
        Assert.Equal(1, q.Class);
        Assert.Equal(packet.Length, q.QuestionEnd);
        Assert.False(q.HasOpt);
        Assert.Equal(512, q.ClientUdpLimit);
    }

    [Fact]
    public void TryParse_WithOpt_ReadsPayloadSize()
    {
        var packet = WireBuilder.Query("allowed.test", 1, edns: 4096);

        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(packet, out var q));
        Assert.True(q.HasOpt);
        Assert.Equal(4096, q.ClientUdpLimit);
        Assert.Equal(12 + 14 + 4, q.QuestionEnd);
    }

    [Fact]
    public void TryParse_OptWithSmallPayload_ClientLimitIsAtLeast512()
    {
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(WireBuilder.Query("a.test", 1, edns: 100), out var q));
        Assert.Equal(512, q.ClientUdpLimit);
    }

    [Fact]
    public void TryParse_OptWithOptions_Accepted()
    {
        // a cookie option (10) of 8 bytes
        var packet = WireBuilder.Header(1, 0x0100, 1, 0, 0, 1).Name("a.test").U16(1).U16(1)
            .U8(0).U16(41).U16(1232).U32(0).U16(12).U16(10).U16(8).Bytes(1, 2, 3, 4, 5, 6, 7, 8).ToArray();
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(packet, out _));
    }

    [Fact]
    public void TryParse_LabelWithDotOrBinary_IsNotAHostName()
    {
        // one label "x.allowed" under "test": joined text must not look like a subdomain of allowed.test
        var packet = WireBuilder.Header(1, 0x0100, 1).U8(9).Bytes("x.allowed"u8.ToArray()).Name("test").U16(1).U16(1).ToArray();

        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(packet, out var q));
        Assert.False(q.IsHostName);
        Assert.Equal("x\\046allowed.test", q.Name);

        var binary = WireBuilder.Header(1, 0x0100, 1).U8(2).Bytes(0x00, 0xff).Name("exfil.test").U16(16).U16(1).ToArray();
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(binary, out var b));
        Assert.False(b.IsHostName);
        Assert.Equal("\\000\\255.exfil.test", b.Name);
    }

    [Fact]
    public void TryParse_RootName_IsNotAHostName()
    {
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(WireBuilder.Query(".", 2), out var q));
        Assert.Equal("", q.Name);
        Assert.False(q.IsHostName);
    }

    public static TheoryData<string, byte[]> MalformedPackets => new()
    {
        { "empty", [] },
        { "short header", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
        { "a response", WireBuilder.Header(1, 0x8180, 1).Name("a.test").U16(1).U16(1).ToArray() },
        { "question cut", WireBuilder.Header(1, 0x0100, 1).Name("a.test").U16(1).ToArray() },
        { "name cut", WireBuilder.Header(1, 0x0100, 1).U8(5).Bytes("abc"u8.ToArray()).ToArray() },
        { "compression in question", WireBuilder.Header(1, 0x0100, 1).Labels("a").Pointer(12).U16(1).U16(1).ToArray() },
        { "pointer to itself", WireBuilder.Header(1, 0x0100, 1).Pointer(12).U16(1).U16(1).ToArray() },
        { "label type 0x40", WireBuilder.Header(1, 0x0100, 1).U8(0x41).Bytes(0).U8(0).U16(1).U16(1).ToArray() },
        { "name over 255", WireBuilder.Header(1, 0x0100, 1).Name(string.Join('.', Enumerable.Repeat(new string('a', 63), 4))).U16(1).U16(1).ToArray() },
        { "trailing bytes", WireBuilder.Header(1, 0x0100, 1).Name("a.test").U16(1).U16(1).U8(0).ToArray() },
        { "additional not OPT", WireBuilder.Header(1, 0x0100, 1, 0, 0, 1).Name("a.test").U16(1).U16(1).U8(0).U16(1).U16(1).U32(0).U16(0).ToArray() },
        { "OPT rdlength beyond end", WireBuilder.Header(1, 0x0100, 1, 0, 0, 1).Name("a.test").U16(1).U16(1).U8(0).U16(41).U16(512).U32(0).U16(9).ToArray() },
        { "OPT option cut", WireBuilder.Header(1, 0x0100, 1, 0, 0, 1).Name("a.test").U16(1).U16(1).U8(0).U16(41).U16(512).U32(0).U16(4).U16(10).U16(8).ToArray() },
    };

    [Theory]
    [MemberData(nameof(MalformedPackets))]
    public void TryParse_Malformed_IsDropped(string what, byte[] packet)
    {
        Assert.True(DnsQuery.TryParse(packet, out _) == QueryParseResult.Malformed, what);
    }

    [Fact]
    public void TryParse_NameOf255Octets_Accepted()
    {
        // 3 x 63 + 61 octets of labels + 4 length bytes + root = 255
        var name = string.Join('.', new string('a', 63), new string('b', 63), new string('c', 63), new string('d', 61));
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(WireBuilder.Query(name, 1), out var q));
        Assert.Equal(253, q.Name.Length);
    }

    [Theory]
    [InlineData(0, 1, 0, 0)]
    [InlineData(2, 0, 0, 0)]
    [InlineData(1, 1, 0, 0)]
    [InlineData(1, 0, 1, 0)]
    [InlineData(1, 0, 0, 2)]
    public void TryParse_OtherSectionCounts_FormatError(ushort qd, ushort an, ushort ns, ushort ar)
    {
        var packet = WireBuilder.Header(1, 0x0100, qd, an, ns, ar).Name("a.test").U16(1).U16(1).ToArray();
        Assert.Equal(QueryParseResult.FormatError, DnsQuery.TryParse(packet, out _));
    }

    [Theory]
    [InlineData(2)] // STATUS
    [InlineData(4)] // NOTIFY
    [InlineData(5)] // UPDATE
    public void TryParse_OtherOpcode_NotImplemented(int opcode)
    {
        var packet = WireBuilder.Header(1, (ushort)(opcode << 11), 1).Name("a.test").U16(1).U16(1).ToArray();
        Assert.Equal(QueryParseResult.NotImplemented, DnsQuery.TryParse(packet, out _));
    }
}
