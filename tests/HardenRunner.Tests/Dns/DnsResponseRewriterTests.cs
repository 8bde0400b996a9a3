using System.Net;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Dns;

namespace HardenRunner.Tests.Dns;

public class DnsResponseRewriterTests
{
    private static readonly byte[] Ech = [0xfe, 0x0d, 0, 4, 9, 9, 9, 9];

    /// <summary>
    /// Q www.allowed.test HTTPS; AN: HTTPS (alpn, ipv4hint, ech) / CNAME www.allowed.test -> edge.cdn.test (written after
    /// the HTTPS record) / A and AAAA owned by a pointer to that CNAME target / an unrelated A; AR: OPT.
    /// </summary>
    private static byte[] BuildResponse(uint aTtl = 7200, bool withEch = true)
    {
        var b = WireBuilder.Header(0xbeef, 0x81a0, 1, 5, 0, 1).Name("www.allowed.test").U16(65).U16(1);
        b.Pointer(12).RecordHeader(65, 300, out var https).U16(1).U8(0).SvcParam(1, 2, (byte)'h', (byte)'2').SvcParam(4, 192, 0, 2, 10);
        if (withEch)
        {
            b.SvcParam(5, Ech);
        }

        b.EndRecord(https);
        b.Pointer(12).RecordHeader(5, 60, out var cname);
        var edge = b.Position;
        b.Name("edge.cdn.test").EndRecord(cname);
        b.Pointer(edge).RecordHeader(1, aTtl, out var a).Bytes(192, 0, 2, 20).EndRecord(a);
        b.Pointer(edge).RecordHeader(28, 30, out var aaaa).Bytes(IPAddress.Parse("2001:db8::20").GetAddressBytes()).EndRecord(aaaa);
        b.Name("other.test").RecordHeader(1, 60, out var other).Bytes(203, 0, 113, 9).EndRecord(other);
        b.U8(0).U16(41).U16(1232).U32(0).U16(0);
        return b.ToArray();
    }

    [Fact]
    public void Rewrite_HttpsWithEch_EchRemovedAndLaterPointersFixed()
    {
        var original = BuildResponse();

        var result = DnsResponseRewriter.Rewrite(original, maxAnswerTtl: null);

        Assert.NotNull(result);
        Assert.True(result.EchStripped);
        Assert.Equal(original.Length - 4 - Ech.Length, result.Message.Length);

        // an independent parser reads the rewritten message
        var parsed = DnsMessage.Parse(result.Message);
        Assert.Equal(5, parsed.AnswerRecords.Count);
        var https = Assert.IsType<HttpsRecord>(parsed.AnswerRecords[0]);
        Assert.DoesNotContain(ServiceBindingParameterKey.ECH, https.Parameters.Keys);
        Assert.Contains(ServiceBindingParameterKey.ALPN, https.Parameters.Keys);
        Assert.Contains(ServiceBindingParameterKey.IPv4Hint, https.Parameters.Keys);
        Assert.Equal("edge.cdn.test.", ((CNameRecord)parsed.AnswerRecords[1]).CanonicalName.ToString());
        Assert.Equal("edge.cdn.test.", parsed.AnswerRecords[2].Name.ToString());
        Assert.Equal(IPAddress.Parse("192.0.2.20"), ((ARecord)parsed.AnswerRecords[2]).Address);
        Assert.Equal("edge.cdn.test.", parsed.AnswerRecords[3].Name.ToString());
        Assert.Equal("other.test.", parsed.AnswerRecords[4].Name.ToString());
        Assert.True(parsed.IsEDnsEnabled);
        Assert.False(parsed.IsAuthenticData); // AD was set upstream; the data changed, so it is cleared
        Assert.Equal(0xbeef, parsed.TransactionID);
    }

    [Fact]
    public void Rewrite_WithoutEch_BytesUnchanged()
    {
        var original = BuildResponse(withEch: false);

        var result = DnsResponseRewriter.Rewrite(original, maxAnswerTtl: null);

        Assert.NotNull(result);
        Assert.False(result.EchStripped);
        Assert.Equal(original, result.Message);
    }

    [Fact]
    public void Rewrite_CnameChain_AddressesOfTheChainOnly()
    {
        var result = DnsResponseRewriter.Rewrite(BuildResponse(), maxAnswerTtl: null)!;

        Assert.Equal(
            [new ResolvedAddress(IPAddress.Parse("192.0.2.20"), 7200), new ResolvedAddress(IPAddress.Parse("2001:db8::20"), 30)],
            result.Addresses);
    }

    [Fact]
    public void Rewrite_TtlCap_AppliesToAnswersAfterTheEdit()
    {
        var result = DnsResponseRewriter.Rewrite(BuildResponse(aTtl: 7200), maxAnswerTtl: 3600)!;

        var parsed = DnsMessage.Parse(result.Message);
        Assert.Equal(300, parsed.AnswerRecords[0].TimeToLive);
        Assert.Equal(3600, parsed.AnswerRecords[2].TimeToLive);
        Assert.Equal(30, parsed.AnswerRecords[3].TimeToLive);
    }

    [Fact]
    public void Rewrite_TwoHttpsRecordsWithEch_BothStripped()
    {
        var b = WireBuilder.Header(1, 0x8180, 1, 2).Name("a.test").U16(65).U16(1);
        b.Pointer(12).RecordHeader(65, 60, out var r1).U16(1).U8(0).SvcParam(5, Ech).EndRecord(r1);
        b.Pointer(12).RecordHeader(65, 60, out var r2).U16(2).Labels("alt").Pointer(12).SvcParam(3, 1, 187).SvcParam(5, Ech).EndRecord(r2);

        var result = DnsResponseRewriter.Rewrite(b.ToArray(), null)!;

        var parsed = DnsMessage.Parse(result.Message);
        var second = (HttpsRecord)parsed.AnswerRecords[1];
        Assert.Equal("alt.a.test.", second.Target.ToString());
        Assert.Equal([ServiceBindingParameterKey.Port], second.Parameters.Keys);
        Assert.Empty(((HttpsRecord)parsed.AnswerRecords[0]).Parameters);
    }

    [Fact]
    public void Rewrite_SvcbWithEch_EchRemovedLikeHttps()
    {
        // Q _dns.resolver.test SVCB (type 64); AN: SVCB 1 dot.resolver.test (target compressed into the question) alpn=dot port=853 ech;
        // then an A for the target, owned by a pointer to the target name inside the SVCB RDATA (the record after the edit moves)
        var b = WireBuilder.Header(7, 0x81a0, 1, 2).Name("_dns.resolver.test").U16(64).U16(1);
        b.Pointer(12).RecordHeader(64, 300, out var svcb).U16(1);
        var target = b.Position;
        b.Labels("dot").Pointer(12 + 5).SvcParam(1, 3, (byte)'d', (byte)'o', (byte)'t').SvcParam(3, 3, 85).SvcParam(5, Ech).EndRecord(svcb);
        b.Pointer(target).RecordHeader(1, 60, out var a).Bytes(192, 0, 2, 53).EndRecord(a);
        var original = b.ToArray();

        var result = DnsResponseRewriter.Rewrite(original, maxAnswerTtl: null);

        Assert.NotNull(result);
        Assert.True(result.EchStripped);
        Assert.Equal(original.Length - 4 - Ech.Length, result.Message.Length);
        var parsed = DnsMessage.Parse(result.Message);
        var record = Assert.IsType<SvcBRecord>(parsed.AnswerRecords[0]);
        Assert.Equal(RecordType.SvcB, record.RecordType);
        Assert.Equal("dot.resolver.test.", record.Target.ToString());
        Assert.Equal([ServiceBindingParameterKey.ALPN, ServiceBindingParameterKey.Port], record.Parameters.Keys.Order());
        Assert.Equal(853, ((PortServiceBindingParameter)record.Parameters[ServiceBindingParameterKey.Port]).Port);
        Assert.Equal("dot.resolver.test.", parsed.AnswerRecords[1].Name.ToString());
        Assert.Equal(IPAddress.Parse("192.0.2.53"), ((ARecord)parsed.AnswerRecords[1]).Address);
        Assert.False(parsed.IsAuthenticData);
    }

    [Fact]
    public void Rewrite_SvcbWithoutEch_BytesUnchanged()
    {
        var b = WireBuilder.Header(7, 0x8180, 1, 1).Name("_dns.resolver.test").U16(64).U16(1);
        b.Pointer(12).RecordHeader(64, 300, out var svcb).U16(1).Labels("dot").Pointer(12 + 5).SvcParam(3, 3, 85).EndRecord(svcb);
        var original = b.ToArray();

        var result = DnsResponseRewriter.Rewrite(original, maxAnswerTtl: null)!;

        Assert.False(result.EchStripped);
        Assert.Equal(original, result.Message);
    }

    [Fact]
    public void Rewrite_PointerIntoRewrittenParams_Refused()
    {
        // a later owner name points into the ech value: cannot be kept consistent, so the response is refused
        var b = WireBuilder.Header(1, 0x8180, 1, 2).Name("a.test").U16(65).U16(1);
        b.Pointer(12).RecordHeader(65, 60, out var r1).U16(1).U8(0).U16(5).U16(3);
        var inside = b.Position;
        b.U8(1).U8((byte)'x').U8(0).EndRecord(r1);
        b.Pointer(inside).RecordHeader(1, 60, out var r2).Bytes(1, 2, 3, 4).EndRecord(r2);

        Assert.Null(DnsResponseRewriter.Rewrite(b.ToArray(), null));
    }

    public static TheoryData<string, byte[]> Unreadable => new()
    {
        { "query, not response", WireBuilder.Header(1, 0x0100, 1).Name("a.test").U16(1).U16(1).ToArray() },
        { "answer count beyond data", WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(1).U16(1).ToArray() },
        { "A with 5 bytes", WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(1).U16(1).Pointer(12).U16(1).U16(1).U32(1).U16(5).Bytes(1, 2, 3, 4, 5).ToArray() },
        { "CNAME name overruns rdata", WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(5).U16(1).Pointer(12).U16(5).U16(1).U32(1).U16(2).Labels("b").U8(0).ToArray() },
        { "pointer loop in owner", WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(1).U16(1).Pointer(24).U16(1).U16(1).U32(1).U16(4).Bytes(1, 2, 3, 4).ToArray() },
        { "HTTPS params cut", WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(65).U16(1).Pointer(12).U16(65).U16(1).U32(1).U16(6).U16(1).U8(0).U16(5).U8(0).ToArray() },
        { "rdlength beyond end", WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(16).U16(1).Pointer(12).U16(16).U16(1).U32(1).U16(40).U8(3).ToArray() },
    };

    [Theory]
    [MemberData(nameof(Unreadable))]
    public void Rewrite_Unreadable_Null(string what, byte[] message)
    {
        Assert.True(DnsResponseRewriter.Rewrite(message, null) is null, what);
    }

    [Fact]
    public void Rewrite_TrailingBytes_Dropped()
    {
        var message = WireBuilder.Header(1, 0x8180, 1, 1).Name("a.test").U16(1).U16(1).Pointer(12).U16(1).U16(1).U32(60).U16(4).Bytes(192, 0, 2, 1).ToArray();
        var result = DnsResponseRewriter.Rewrite([.. message, 0xde, 0xad], null)!;
        Assert.Equal(message, result.Message);
        Assert.Equal([new ResolvedAddress(IPAddress.Parse("192.0.2.1"), 60)], result.Addresses);
    }
}
