using HardenRunner.Dns;

namespace HardenRunner.Tests.Dns;

public class SvcParamsTests
{
    private static readonly byte[] Alpn = [2, (byte)'h', (byte)'2'];
    private static readonly byte[] Ipv4Hint = [192, 0, 2, 10];
    private static readonly byte[] Ech = [0xfe, 0x0d, 0, 4, 1, 2, 3, 4];

    [Fact]
    public void StripEch_RemovesOnlyEch()
    {
        var input = new WireBuilder().SvcParam(1, Alpn).SvcParam(4, Ipv4Hint).SvcParam(5, Ech).SvcParam(6, new byte[16]).ToArray();

        var stripped = SvcParams.StripEch(input);

        var expected = new WireBuilder().SvcParam(1, Alpn).SvcParam(4, Ipv4Hint).SvcParam(6, new byte[16]).ToArray();
        Assert.Equal(expected, stripped);
    }

    [Fact]
    public void StripEch_WithoutEch_ReturnsNull()
    {
        var input = new WireBuilder().SvcParam(1, Alpn).SvcParam(4, Ipv4Hint).ToArray();
        Assert.Null(SvcParams.StripEch(input));
        Assert.Null(SvcParams.StripEch([]));
    }

    [Fact]
    public void StripEch_EchOnlyParam_LeavesEmptyParams()
    {
        Assert.Empty(SvcParams.StripEch(new WireBuilder().SvcParam(5, Ech).ToArray())!);
    }

    [Fact]
    public void StripEch_EchInMandatory_RemovedFromTheList()
    {
        var input = new WireBuilder().SvcParam(0, 0, 1, 0, 5).SvcParam(1, Alpn).SvcParam(5, Ech).ToArray();

        var stripped = SvcParams.StripEch(input);

        Assert.Equal(new WireBuilder().SvcParam(0, 0, 1).SvcParam(1, Alpn).ToArray(), stripped);
    }

    [Fact]
    public void StripEch_MandatoryOnlyEch_MandatoryRemoved()
    {
        var input = new WireBuilder().SvcParam(0, 0, 5).SvcParam(1, Alpn).SvcParam(5, Ech).ToArray();
        Assert.Equal(new WireBuilder().SvcParam(1, Alpn).ToArray(), SvcParams.StripEch(input));
    }

    [Theory]
    [InlineData(new byte[] { 0 })]
    [InlineData(new byte[] { 0, 1, 0 })]
    [InlineData(new byte[] { 0, 1, 0, 3, 2, (byte)'h' })]
    public void IsWellFormed_CutParams_False(byte[] p) => Assert.False(SvcParams.IsWellFormed(p));

    [Fact]
    public void IsWellFormed_Sequence_True()
    {
        Assert.True(SvcParams.IsWellFormed(new WireBuilder().SvcParam(1, Alpn).SvcParam(3, 1, 187).ToArray()));
        Assert.True(SvcParams.IsWellFormed([]));
    }
}
