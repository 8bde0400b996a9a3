using HardenRunner.Dns;

namespace HardenRunner.Tests.Dns;

public class UpstreamMatchTests
{
    private static readonly byte[] Query = WireBuilder.Query("Allowed.TEST", 1, id: 0x1111);
    private static readonly int QuestionEnd = Query.Length;

    private static byte[] Reply(ushort id, string name, ushort type = 1, ushort flags = 0x8180, ushort qd = 1) =>
        WireBuilder.Header(id, flags, qd).Name(name).U16(type).U16(1).ToArray();

    [Fact]
    public void Matches_SameIdAndQuestion_True() => Assert.True(UpstreamForwarder.Matches(Reply(0x1111, "Allowed.TEST"), Query, QuestionEnd, 0x1111));

    [Fact]
    public void Matches_CaseOfTheNameDiffers_True() => Assert.True(UpstreamForwarder.Matches(Reply(0x1111, "allowed.test"), Query, QuestionEnd, 0x1111));

    [Fact]
    public void Matches_OtherId_False() => Assert.False(UpstreamForwarder.Matches(Reply(0x1112, "allowed.test"), Query, QuestionEnd, 0x1111));

    [Fact]
    public void Matches_OtherName_False() => Assert.False(UpstreamForwarder.Matches(Reply(0x1111, "allowed.tesu"), Query, QuestionEnd, 0x1111));

    [Fact]
    public void Matches_OtherType_False() => Assert.False(UpstreamForwarder.Matches(Reply(0x1111, "allowed.test", type: 28), Query, QuestionEnd, 0x1111));

    [Fact]
    public void Matches_AQuery_False() => Assert.False(UpstreamForwarder.Matches(Reply(0x1111, "allowed.test", flags: 0x0100), Query, QuestionEnd, 0x1111));

    [Fact]
    public void Matches_ErrorWithoutQuestion_True()
    {
        var formErr = WireBuilder.Header(0x1111, 0x8181, 0).ToArray();
        Assert.True(UpstreamForwarder.Matches(formErr, Query, QuestionEnd, 0x1111));
        var noErrorEmpty = WireBuilder.Header(0x1111, 0x8180, 0).ToArray();
        Assert.False(UpstreamForwarder.Matches(noErrorEmpty, Query, QuestionEnd, 0x1111));
    }
}
