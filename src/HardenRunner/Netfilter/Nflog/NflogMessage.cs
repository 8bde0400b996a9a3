using System.Buffers.Binary;

namespace HardenRunner.Netfilter.Nflog;

/// <summary>One packet logged to NFLOG: the address family, the rule's prefix, the copied packet and metadata.</summary>
public sealed record NflogPacket(byte Family, string? Prefix, byte[] Payload, uint? InputInterface, uint? Sequence, uint? Uid);

/// <summary>
/// Netlink wire format of nfnetlink_log (linux/netfilter/nfnetlink_log.h): building the config request that binds a
/// group, and parsing the packet messages. Pure; the socket lives in <see cref="NflogSocket"/>.
/// </summary>
public static class NflogMessage
{
    public const int NlmsgHeaderLength = 16;
    public const ushort NlmsgError = 2;
    public const ushort NlmsgDone = 3;
    public const ushort NlmFRequest = 1;
    public const ushort NlmFAck = 4;

    /// <summary>(NFNL_SUBSYS_ULOG &lt;&lt; 8) | NFULNL_MSG_PACKET.</summary>
    public const ushort MsgPacket = 4 << 8;

    /// <summary>(NFNL_SUBSYS_ULOG &lt;&lt; 8) | NFULNL_MSG_CONFIG.</summary>
    public const ushort MsgConfig = (4 << 8) | 1;

    private const ushort AttrPrefix = 10;
    private const ushort AttrPayload = 9;
    private const ushort AttrIfIndexInDev = 4;
    private const ushort AttrUid = 11;
    private const ushort AttrSeq = 12;
    private const ushort CfgCmd = 1;
    private const ushort CfgMode = 2;
    private const ushort CfgTimeout = 4;
    private const ushort CfgQThresh = 5;
    private const ushort CfgFlags = 6;
    private const byte CmdBind = 1;
    private const byte CopyPacket = 2;
    private const byte FlagSeq = 1;

    /// <summary>
    /// The request that binds <paramref name="group"/> to the socket, copies <paramref name="copyRange"/> bytes of
    /// each packet, flushes every <paramref name="queueThreshold"/> packets or 100 ms, and numbers packets (so gaps
    /// show lost messages).
    /// </summary>
    public static byte[] BuildBindRequest(ushort group, int copyRange, int queueThreshold, uint sequence)
    {
        var attrs = new List<(ushort Type, byte[] Value)>
        {
            (CfgCmd, new[] { CmdBind }),
            (CfgMode, ModeValue(copyRange)),
            (CfgTimeout, BigEndian32(10)),
            (CfgQThresh, BigEndian32((uint)queueThreshold)),
            (CfgFlags, new byte[] { 0, FlagSeq }),
        };
        var length = NlmsgHeaderLength + 4 + attrs.Sum(a => Align(4 + a.Value.Length));
        var buffer = new byte[length];
        var span = buffer.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)length);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], MsgConfig);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], NlmFRequest | NlmFAck);
        BinaryPrimitives.WriteUInt32LittleEndian(span[8..], sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(span[12..], 0);
        span[16] = 0; // AF_UNSPEC
        span[17] = 0; // NFNETLINK_V0
        BinaryPrimitives.WriteUInt16BigEndian(span[18..], group);
        var offset = NlmsgHeaderLength + 4;
        foreach (var (type, value) in attrs)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span[offset..], (ushort)(4 + value.Length));
            BinaryPrimitives.WriteUInt16LittleEndian(span[(offset + 2)..], type);
            value.CopyTo(span[(offset + 4)..]);
            offset += Align(4 + value.Length);
        }

        return buffer;
    }

    /// <summary>
    /// Walks the netlink messages of one datagram: packet messages go to <paramref name="onPacket"/>; an error
    /// message sets <paramref name="error"/> (0 = an ACK). Returns the number of malformed messages skipped.
    /// </summary>
    public static int Parse(ReadOnlySpan<byte> datagram, Action<NflogPacket> onPacket, out int? error)
    {
        ArgumentNullException.ThrowIfNull(onPacket);
        error = null;
        var malformed = 0;
        while (datagram.Length >= NlmsgHeaderLength)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            if (length < NlmsgHeaderLength || length > datagram.Length)
            {
                return malformed + 1;
            }

            var type = BinaryPrimitives.ReadUInt16LittleEndian(datagram[4..]);
            var body = datagram[NlmsgHeaderLength..length];
            if (type == NlmsgError && body.Length >= 4)
            {
                error = -BinaryPrimitives.ReadInt32LittleEndian(body);
            }
            else if (type == MsgPacket)
            {
                if (TryParsePacket(body, out var packet))
                {
                    onPacket(packet);
                }
                else
                {
                    malformed++;
                }
            }

            var next = Align(length);
            if (next >= datagram.Length)
            {
                break;
            }

            datagram = datagram[next..];
        }

        return malformed;
    }

    private static bool TryParsePacket(ReadOnlySpan<byte> body, out NflogPacket packet)
    {
        packet = null!;
        if (body.Length < 4)
        {
            return false;
        }

        var family = body[0];
        string? prefix = null;
        byte[]? payload = null;
        uint? indev = null;
        uint? seq = null;
        uint? uid = null;
        var attrs = body[4..];
        while (attrs.Length >= 4)
        {
            var len = BinaryPrimitives.ReadUInt16LittleEndian(attrs);
            var type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(attrs[2..]) & 0x3fff);
            if (len < 4 || len > attrs.Length)
            {
                return false;
            }

            var value = attrs[4..len];
            switch (type)
            {
                case AttrPrefix:
                    var nul = value.IndexOf((byte)0);
                    prefix = System.Text.Encoding.UTF8.GetString(nul >= 0 ? value[..nul] : value);
                    break;
                case AttrPayload:
                    payload = value.ToArray();
                    break;
                case AttrIfIndexInDev when value.Length >= 4:
                    indev = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                case AttrSeq when value.Length >= 4:
                    seq = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                case AttrUid when value.Length >= 4:
                    uid = BinaryPrimitives.ReadUInt32BigEndian(value);
                    break;
                default:
                    break;
            }

            var next = Align(len);
            if (next >= attrs.Length)
            {
                break;
            }

            attrs = attrs[next..];
        }

        if (payload is null)
        {
            return false;
        }

        packet = new NflogPacket(family, prefix, payload, indev, seq, uid);
        return true;
    }

    private static byte[] ModeValue(int copyRange)
    {
        var v = new byte[6];
        BinaryPrimitives.WriteUInt32BigEndian(v, (uint)copyRange);
        v[4] = CopyPacket;
        return v;
    }

    private static byte[] BigEndian32(uint value)
    {
        var v = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, value);
        return v;
    }

    private static int Align(int n) => (n + 3) & ~3;
}
