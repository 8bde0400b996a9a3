using ARSoft.Tools.Net.Dns;
using HardenRunner.Dns;

namespace HardenRunner.Tests.Dns;

public class DnsResponsesTests
{
    [Fact]
    public void FromQuery_NxDomain_KeepsIdQuestionAndRecursionDesired()
    {
        var query = WireBuilder.Query("c2VjcmV0.exfil.test", 16, id: 0x4242);
        Assert.Equal(QueryParseResult.Ok, DnsQuery.TryParse(query, out var q));

        var response = DnsResponses.FromQuery(query, q, DnsWire.RcodeNxDomain);

        var parsed = DnsMessage.Parse(response);
        Assert.Equal(0x4242, parsed.TransactionID);
        Assert.False(parsed.IsQuery);
        Assert.Equal(ReturnCode.NxDomain, parsed.ReturnCode);
        Assert.True(parsed.IsRecursionDesired);
        Assert.True(parsed.IsRecursionAllowed);
        Assert.False(parsed.IsTruncated);
        Assert.Single(parsed.Questions);
        Assert.Equal("c2VjcmV0.exfil.test.", parsed.Questions[0].Name.ToString(), ignoreCase: true);
        Assert.Equal(RecordType.Txt, parsed.Questions[0].RecordType);
        Assert.Empty(parsed.AnswerRecords);
        Assert.False(parsed.IsEDnsEnabled);
    }

    [Fact]
    public void FromQuery_QueryWithOpt_ResponseHasOpt()
    {
        var query = WireBuilder.Query("a.test", 1, edns: 4096);
        DnsQuery.TryParse(query, out var q);

        var parsed = DnsMessage.Parse(DnsResponses.FromQuery(query, q, DnsWire.RcodeServFail, truncated: true));

        Assert.Equal(ReturnCode.ServerFailure, parsed.ReturnCode);
        Assert.True(parsed.IsTruncated);
        Assert.True(parsed.IsEDnsEnabled);
        Assert.Equal(DnsResponses.AdvertisedUdpPayload, parsed.EDnsOptions!.UdpPayloadSize);
    }

    [Fact]
    public void HeaderOnly_FormErr_NoSections()
    {
        var query = WireBuilder.Header(7, 0x0100, 2).Name("a.test").U16(1).U16(1).Name("b.test").U16(1).U16(1).ToArray();

        var response = DnsResponses.HeaderOnly(query, DnsWire.RcodeFormErr);

        Assert.Equal(12, response.Length);
        Assert.Equal(7, DnsWire.GetId(response));
        Assert.True(DnsWire.IsResponse(response));
        Assert.Equal(DnsWire.RcodeFormErr, DnsWire.GetRcode(response));
        Assert.Equal(0, DnsWire.QuestionCount(response));
    }
}
