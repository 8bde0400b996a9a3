using System.Buffers.Binary;
using System.Net;
using System.Runtime.Versioning;
using System.Text;
using HardenRunner.Events;
using HardenRunner.Netfilter;
using HardenRunner.Netfilter.Nflog;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Netfilter;

[SupportedOSPlatform("linux")]
public sealed class NflogTests
{
    private static byte[] Ipv4Tcp(string src, int sport, string dst, int dport)
    {
        var p = new byte[40];
        p[0] = 0x45;
        p[9] = 6;
        IPAddress.Parse(src).GetAddressBytes().CopyTo(p, 12);
        IPAddress.Parse(dst).GetAddressBytes().CopyTo(p, 16);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(20), (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(22), (ushort)dport);
        return p;
    }

    private static byte[] Ipv6UdpWithHopByHop(string src, int sport, string dst, int dport)
    {
        var p = new byte[40 + 8 + 8];
        p[0] = 0x60;
        p[6] = 0; // hop-by-hop
        IPAddress.Parse(src).GetAddressBytes().CopyTo(p, 8);
        IPAddress.Parse(dst).GetAddressBytes().CopyTo(p, 24);
        p[40] = 17; // next: UDP
        p[41] = 0;  // 8 bytes
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(48), (ushort)sport);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(50), (ushort)dport);
        return p;
    }

    /// <summary>An NFULNL_MSG_PACKET message as the kernel sends it.</summary>
    private static byte[] PacketMessage(byte family, string prefix, byte[] payload, uint seq, uint? indev = null)
    {
        var attrs = new List<byte>();
        void Attr(ushort type, byte[] value)
        {
            var len = 4 + value.Length;
            var a = new byte[(len + 3) & ~3];
            BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)len);
            BinaryPrimitives.WriteUInt16LittleEndian(a.AsSpan(2), type);
            value.CopyTo(a, 4);
            attrs.AddRange(a);
        }

        Attr(1, [0x08, 0x00, 3, 0]); // NFULA_PACKET_HDR
        Attr(10, [.. Encoding.ASCII.GetBytes(prefix), 0]);
        var s = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(s, seq);
        Attr(12, s);
        if (indev is { } i)
        {
            var d = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(d, i);
            Attr(4, d);
        }

        Attr(9, payload);
        var msg = new byte[16 + 4 + attrs.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(msg, (uint)msg.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(msg.AsSpan(4), NflogMessage.MsgPacket);
        msg[16] = family;
        attrs.CopyTo(msg, 20);
        return msg;
    }

    [Fact]
    public void BindRequest_HasTheConfigTypeGroupAndCopyMode()
    {
        var m = NflogMessage.BuildBindRequest(18514, 128, 1, 7);

        Assert.Equal((uint)m.Length, BinaryPrimitives.ReadUInt32LittleEndian(m));
        Assert.Equal(NflogMessage.MsgConfig, BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(4)));
        Assert.Equal(NflogMessage.NlmFRequest | NflogMessage.NlmFAck, BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(6)));
        Assert.Equal(18514, BinaryPrimitives.ReadUInt16BigEndian(m.AsSpan(18)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(22))); // first attribute: NFULA_CFG_CMD
        Assert.Equal(1, m[24]);                                                 // NFULNL_CFG_CMD_BIND
        Assert.Equal(128u, BinaryPrimitives.ReadUInt32BigEndian(m.AsSpan(32))); // NFULA_CFG_MODE copy range
        Assert.Equal(2, m[36]);                                                 // NFULNL_COPY_PACKET
    }

    [Fact]
    public void Parse_ReadsPacketsAndAcks()
    {
        var two = PacketMessage(2, "hr/deny/blocked", Ipv4Tcp("192.0.2.1", 40000, "192.0.2.2", 9000), 5)
            .Concat(PacketMessage(10, "hr/quic/blocked", Ipv6UdpWithHopByHop("2001:db8::1", 5000, "2001:db8::2", 443), 6, indev: 3)).ToArray();
        var packets = new List<NflogPacket>();
        Assert.Equal(0, NflogMessage.Parse(two, packets.Add, out var error));
        Assert.Null(error);
        Assert.Equal(2, packets.Count);
        Assert.Equal("hr/deny/blocked", packets[0].Prefix);
        Assert.Equal(5u, packets[0].Sequence);
        Assert.Equal(3u, packets[1].InputInterface);

        var ack = new byte[36];
        BinaryPrimitives.WriteUInt32LittleEndian(ack, 36);
        BinaryPrimitives.WriteUInt16LittleEndian(ack.AsSpan(4), NflogMessage.NlmsgError);
        BinaryPrimitives.WriteInt32LittleEndian(ack.AsSpan(16), -16);
        NflogMessage.Parse(ack, packets.Add, out error);
        Assert.Equal(16, error);

        Assert.Equal(1, NflogMessage.Parse(two.AsSpan(0, 30).ToArray(), packets.Add, out _)); // truncated
    }

    [Fact]
    public void FlowHeader_ReadsIPv4AndIPv6WithExtensionHeaders()
    {
        Assert.True(FlowHeader.TryParse(Ipv4Tcp("192.0.2.1", 40000, "192.0.2.2", 9000), out var v4));
        Assert.Equal(new FlowHeader(6, IPAddress.Parse("192.0.2.1"), 40000, IPAddress.Parse("192.0.2.2"), 9000), v4);
        Assert.Equal("tcp", v4.Kind);

        Assert.True(FlowHeader.TryParse(Ipv6UdpWithHopByHop("2001:db8::1", 5000, "2001:db8::2", 443), out var v6));
        Assert.Equal(IPAddress.Parse("2001:db8::2"), v6.Destination);
        Assert.Equal(443, v6.DestinationPort);
        Assert.Equal("udp", v6.Kind);

        var fragment = Ipv4Tcp("192.0.2.1", 1, "192.0.2.2", 2);
        fragment[7] = 0x10; // offset != 0: no ports in this fragment
        Assert.True(FlowHeader.TryParse(fragment, out var f));
        Assert.Equal(0, f.DestinationPort);

        Assert.False(FlowHeader.TryParse(new byte[10], out _));
        Assert.False(FlowHeader.TryParse([0x60, 0, 0], out _));
    }

    [Fact]
    public void Publisher_OneEventPerFlowPerWindow_DistinctFlowsAlwaysPublished()
    {
        var sink = new CapturingSink();
        var time = new ManualTime();
        var p = new DeniedFlowPublisher(sink, time, i => i == 3 ? "docker0" : null);
        NflogPacket Packet(int sport, string prefix = "hr/deny/blocked", uint? indev = null) =>
            new(2, prefix, Ipv4Tcp("192.0.2.1", sport, "192.0.2.2", 9000), indev, null, 0);

        p.Handle(Packet(40000));
        p.Handle(Packet(40000)); // SYN retransmission
        p.Handle(Packet(40001)); // another connection
        time.Advance(DeniedFlowPublisher.DedupeWindow);
        p.Handle(Packet(40000)); // still trying after the window
        p.Handle(Packet(40002, "hr/deny/passed", indev: 3));
        p.Handle(Packet(40003, "someone else's rule"));

        var events = sink.Events.OfType<NetworkEvent>().ToList();
        Assert.Equal(4, events.Count);
        Assert.Equal(1, p.Duplicates);
        Assert.Equal(1, p.Foreign);
        Assert.All(events, e => Assert.Equal(("tcp", "192.0.2.2", 9000, Decision.Deny), (e.Kind, e.Address, e.Port, e.Decision)));
        Assert.Equal(NetworkEvent.Blocked, events[0].Action);
        Assert.Equal(NetworkEvent.Passed, events[3].Action);
        Assert.Equal(NflogPrefix.RuleText(NflogPrefix.Deny) + " (forwarded from docker0)", events[3].Rule);
    }

    [Theory]
    [InlineData("hr/deny/blocked", true, "deny", true)]
    [InlineData("hr/quic/passed", true, "quic", false)]
    [InlineData("hr/deny/dropped", false, "", false)]
    [InlineData("hr//blocked", false, "", false)]
    [InlineData("other", false, "", false)]
    [InlineData(null, false, "", false)]
    public void Prefix_RoundTrips(string? prefix, bool ok, string reason, bool blocked)
    {
        Assert.Equal(ok, NflogPrefix.TryParse(prefix, out var r, out var b));
        Assert.Equal((reason, blocked), (r, b));
        if (ok)
        {
            Assert.Equal(prefix, NflogPrefix.Format(r, b));
        }
    }
}
