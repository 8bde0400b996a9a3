using System.Net;
using System.Text;
using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

public class ProcNetSocketsTests
{
    private const string Tcp4 =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0\n" +
        "   1: 0100007F:A2C4 0200000A:01BB 01 00000000:00000000 00:00000000 00000000  1001        0 2222 1 0000000000000000 20 4 30 10 -1\n";

    private const string Tcp6 =
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
        "   0: 00000000000000000000000001000000:9C40 0000000000000000FFFF00000100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0 20 4 30 10 -1\n";

    [Fact]
    public void TryFind_Ipv4Entry_DecodesHostOrderAddresses()
    {
        Assert.True(ProcNetSockets.TryFind(Encoding.ASCII.GetBytes(Tcp4), "tcp", 2222, out var s));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 0xA2C4), s.Local);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 443), s.Remote);
        Assert.Equal(1, s.State);
        Assert.Equal("tcp", s.Protocol);
    }

    [Fact]
    public void TryFind_Ipv6Entry_MapsV4MappedPeers()
    {
        Assert.True(ProcNetSockets.TryFind(Encoding.ASCII.GetBytes(Tcp6), "tcp6", 3333, out var s));
        Assert.Equal(IPAddress.IPv6Loopback, s.Local.Address);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 8080), s.Remote);
        Assert.Equal("tcp", s.Protocol);
    }

    [Fact]
    public void TryFind_UnknownInode_NotFound()
    {
        Assert.False(ProcNetSockets.TryFind(Encoding.ASCII.GetBytes(Tcp4), "tcp", 9999, out _));
    }

    [Fact]
    public void SocketInode_ParsesOnlySocketLinks()
    {
        Assert.Equal(12345UL, ProcFs.SocketInode("socket:[12345]"u8));
        Assert.Equal(0UL, ProcFs.SocketInode("pipe:[12345]"u8));
        Assert.Equal(0UL, ProcFs.SocketInode("/dev/pts/0"u8));
    }
}
