using System.Text;

namespace HardenRunner.Dns;

/// <summary>What a received packet turned out to be.</summary>
internal enum QueryParseResult
{
    /// <summary>A standard query with one question (and at most an OPT record): handle it.</summary>
    Ok,

    /// <summary>Not a DNS query we can read (short, a response, broken names, trailing bytes): drop it silently and count it.</summary>
    Malformed,

    /// <summary>A readable header with a shape we do not serve (several questions, records in the answer sections): answer FORMERR.</summary>
    FormatError,

    /// <summary>An opcode other than QUERY (NOTIFY, UPDATE, ...): answer NOTIMP.</summary>
    NotImplemented,
}

/// <summary>
/// A validated query: exactly one question whose name is written in full (no compression), an optional single OPT
/// record, nothing else and no trailing bytes. Because of this strictness the bytes that are forwarded upstream are
/// exactly header + question + OPT, all of them understood.
/// </summary>
internal readonly record struct DnsQuery(
    string Name,
    bool IsHostName,
    ushort Type,
    ushort Class,
    int QuestionEnd,
    bool HasOpt,
    ushort UdpPayloadSize,
    uint OptTtl)
{
    /// <summary>The largest UDP response the client accepts: its EDNS payload size (at least 512, at most what fits a datagram), else 512.</summary>
    public int ClientUdpLimit => HasOpt ? Math.Clamp((int)UdpPayloadSize, DnsWire.ClassicUdpLimit, MaxUdpPayload) : DnsWire.ClassicUdpLimit;

    /// <summary>65535 minus the IPv4 and UDP headers.</summary>
    private const int MaxUdpPayload = 65507;

    /// <summary>The name builder of this thread (parsing is synchronous): one allocation per query fewer.</summary>
    [ThreadStatic]
    private static StringBuilder? _threadText;

    public static QueryParseResult TryParse(ReadOnlySpan<byte> m, out DnsQuery query)
    {
        query = default;
        if (m.Length < DnsWire.HeaderLength || DnsWire.IsResponse(m))
        {
            return QueryParseResult.Malformed;
        }

        if (DnsWire.GetOpcode(m) != 0)
        {
            return QueryParseResult.NotImplemented;
        }

        if (DnsWire.QuestionCount(m) != 1 || DnsWire.AnswerCount(m) != 0 || DnsWire.AuthorityCount(m) != 0 || DnsWire.AdditionalCount(m) > 1)
        {
            return QueryParseResult.FormatError;
        }

        var offset = DnsWire.HeaderLength;
        var text = _threadText ??= new StringBuilder(DnsWire.MaxNameLength * 4);
        text.Clear();
        if (!DnsWire.TryWalkName(m, ref offset, allowCompression: false, text, null, out var isHostName) || offset + 4 > m.Length)
        {
            return QueryParseResult.Malformed;
        }

        var type = DnsWire.ReadUInt16(m, offset);
        var cls = DnsWire.ReadUInt16(m, offset + 2);
        offset += 4;
        var questionEnd = offset;

        var hasOpt = false;
        ushort payload = 0;
        uint optTtl = 0;
        if (DnsWire.AdditionalCount(m) == 1)
        {
            // OPT: root owner, type 41, class = payload size, TTL = extended rcode/version/flags, RDATA = options
            if (offset + 11 > m.Length || m[offset] != 0 || DnsWire.ReadUInt16(m, offset + 1) != DnsWire.TypeOpt)
            {
                return QueryParseResult.Malformed;
            }

            payload = DnsWire.ReadUInt16(m, offset + 3);
            optTtl = DnsWire.ReadUInt32(m, offset + 5);
            var rdLength = DnsWire.ReadUInt16(m, offset + 9);
            offset += 11;
            if (offset + rdLength > m.Length || !OptionsAreWellFormed(m.Slice(offset, rdLength)))
            {
                return QueryParseResult.Malformed;
            }

            offset += rdLength;
            hasOpt = true;
        }

        if (offset != m.Length)
        {
            return QueryParseResult.Malformed;
        }

        query = new DnsQuery(text.ToString(), isHostName && text.Length > 0, type, cls, questionEnd, hasOpt, payload, optTtl);
        return QueryParseResult.Ok;
    }

    private static bool OptionsAreWellFormed(ReadOnlySpan<byte> options)
    {
        var i = 0;
        while (i < options.Length)
        {
            if (i + 4 > options.Length)
            {
                return false;
            }

            var len = DnsWire.ReadUInt16(options, i + 2);
            i += 4 + len;
        }

        return i == options.Length;
    }
}
