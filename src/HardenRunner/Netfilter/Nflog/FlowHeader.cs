using System.Buffers.Binary;
using System.Net;

namespace HardenRunner.Netfilter.Nflog;

/// <summary>The addresses, protocol and ports of a logged packet.</summary>
public readonly record struct FlowHeader(byte Protocol, IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort)
{
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Icmp = 1;
    public const byte IcmpV6 = 58;

    /// <summary>The event kind: tcp, udp, icmp, or ip (any other protocol).</summary>
    public string Kind => Protocol switch
    {
        Tcp => "tcp",
        Udp => "udp",
        Icmp or IcmpV6 => "icmp",
        _ => "ip",
    };

    /// <summary>
    /// Parses an IPv4 or IPv6 packet (by its version nibble). IPv6 extension headers are skipped; ports are read for
    /// TCP, UDP, UDP-Lite and SCTP when the first fragment carries them. False for anything too short to be a packet.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> packet, out FlowHeader header)
    {
        header = default;
        if (packet.Length < 1)
        {
            return false;
        }

        return (packet[0] >> 4) switch
        {
            4 => TryParse4(packet, out header),
            6 => TryParse6(packet, out header),
            _ => false,
        };
    }

    private static bool TryParse4(ReadOnlySpan<byte> p, out FlowHeader header)
    {
        header = default;
        var ihl = (p[0] & 0x0f) * 4;
        if (ihl < 20 || p.Length < ihl)
        {
            return false;
        }

        var protocol = p[9];
        var src = new IPAddress(p.Slice(12, 4));
        var dst = new IPAddress(p.Slice(16, 4));
        var fragmentOffset = BinaryPrimitives.ReadUInt16BigEndian(p[6..]) & 0x1fff;
        var (sport, dport) = fragmentOffset == 0 ? Ports(protocol, p[ihl..]) : (0, 0);
        header = new FlowHeader(protocol, src, sport, dst, dport);
        return true;
    }

    private static bool TryParse6(ReadOnlySpan<byte> p, out FlowHeader header)
    {
        header = default;
        if (p.Length < 40)
        {
            return false;
        }

        var src = new IPAddress(p.Slice(8, 16));
        var dst = new IPAddress(p.Slice(24, 16));
        var next = p[6];
        var offset = 40;
        var firstFragment = true;
        for (var hops = 0; hops < 8; hops++)
        {
            if (next is 0 or 43 or 60 && p.Length >= offset + 8)
            {
                var n = p[offset];
                offset += (p[offset + 1] + 1) * 8;
                next = n;
            }
            else if (next == 44 && p.Length >= offset + 8)
            {
                firstFragment = (BinaryPrimitives.ReadUInt16BigEndian(p[(offset + 2)..]) & 0xfff8) == 0;
                next = p[offset];
                offset += 8;
            }
            else if (next == 51 && p.Length >= offset + 8)
            {
                var n = p[offset];
                offset += (p[offset + 1] + 2) * 4;
                next = n;
            }
            else
            {
                break;
            }
        }

        var (sport, dport) = firstFragment && offset <= p.Length ? Ports(next, p[offset..]) : (0, 0);
        header = new FlowHeader(next, src, sport, dst, dport);
        return true;
    }

    private static (int Source, int Destination) Ports(byte protocol, ReadOnlySpan<byte> l4) =>
        protocol is Tcp or Udp or 136 /* UDP-Lite */ or 132 /* SCTP */ && l4.Length >= 4
            ? (BinaryPrimitives.ReadUInt16BigEndian(l4), BinaryPrimitives.ReadUInt16BigEndian(l4[2..]))
            : (0, 0);
}
