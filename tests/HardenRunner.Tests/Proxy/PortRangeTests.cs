using HardenRunner.Proxy;

namespace HardenRunner.Tests.Proxy;

public sealed class PortRangeTests
{
    [Fact]
    public void OutsideEphemeral_DefaultLinuxRange_IsAboveIt()
    {
        Assert.Equal(new PortRange(61000, 65535), PortRange.OutsideEphemeral((32768, 60999)));
    }

    [Fact]
    public void OutsideEphemeral_RangeToTheTop_IsBelowIt()
    {
        Assert.Equal(new PortRange(1024, 9999), PortRange.OutsideEphemeral((10000, 65535)));
    }

    [Fact]
    public void OutsideEphemeral_NoRoomEitherSide_KernelChooses()
    {
        Assert.Null(PortRange.OutsideEphemeral((1200, 65300)));
        Assert.Null(PortRange.OutsideEphemeral(null));
    }

    [Theory]
    [InlineData("32768\t60999\n", 32768, 60999)]
    [InlineData("1024 65535", 1024, 65535)]
    public void ParseEphemeral_ProcFormat(string text, int first, int last)
    {
        Assert.Equal((first, last), PortRange.ParseEphemeral(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("x y")]
    [InlineData("60999 32768")]
    [InlineData("1 2 3")]
    public void ParseEphemeral_Garbage_Null(string text)
    {
        Assert.Null(PortRange.ParseEphemeral(text));
    }

    [Fact]
    public void OutsideEphemeral_ThisMachine_DoesNotOverlapItsEphemeralRange()
    {
        var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range");
        var ephemeral = PortRange.ParseEphemeral(text)!.Value;
        if (PortRange.OutsideEphemeral() is { } r)
        {
            Assert.True(r.Last < ephemeral.First || r.First > ephemeral.Last, $"{r} overlaps {ephemeral}");
        }
    }
}
