using System.Buffers.Binary;
using System.Text;

namespace HardenRunner.Dns;

/// <summary>DNS wire-format constants and header accessors (RFC 1035 §4.1). Spans in, no allocation.</summary>
internal static class DnsWire
{
    public const int HeaderLength = 12;

    /// <summary>The port clients send DNS queries to.</summary>
    public const int Port = 53;

    public const int MaxNameLength = 255;
    public const int MaxLabelLength = 63;
    public const int MaxMessageLength = 65535;
    public const int ClassicUdpLimit = 512;

    public const ushort TypeA = 1;
    public const ushort TypeNs = 2;
    public const ushort TypeMd = 3;
    public const ushort TypeMf = 4;
    public const ushort TypeCname = 5;
    public const ushort TypeSoa = 6;
    public const ushort TypeMb = 7;
    public const ushort TypeMg = 8;
    public const ushort TypeMr = 9;
    public const ushort TypePtr = 12;
    public const ushort TypeMinfo = 14;
    public const ushort TypeMx = 15;
    public const ushort TypeRp = 17;
    public const ushort TypeAfsdb = 18;
    public const ushort TypeRt = 21;
    public const ushort TypePx = 26;
    public const ushort TypeAaaa = 28;
    public const ushort TypeSrv = 33;
    public const ushort TypeNaptr = 35;
    public const ushort TypeKx = 36;
    public const ushort TypeDname = 39;
    public const ushort TypeOpt = 41;
    public const ushort TypeSvcb = 64;
    public const ushort TypeHttps = 65;
    public const ushort TypeIxfr = 251;
    public const ushort TypeAxfr = 252;
    public const ushort TypeMailb = 253;
    public const ushort TypeMaila = 254;

    public const byte RcodeNoError = 0;
    public const byte RcodeFormErr = 1;
    public const byte RcodeServFail = 2;
    public const byte RcodeNxDomain = 3;
    public const byte RcodeNotImp = 4;
    public const byte RcodeRefused = 5;

    // byte 2 of the header
    private const byte FlagQr = 0x80;
    private const byte FlagTc = 0x02;

    // byte 3 of the header
    private const byte FlagRa = 0x80;
    private const byte FlagAd = 0x20;

    public static ushort ReadUInt16(ReadOnlySpan<byte> m, int offset) => BinaryPrimitives.ReadUInt16BigEndian(m[offset..]);

    public static uint ReadUInt32(ReadOnlySpan<byte> m, int offset) => BinaryPrimitives.ReadUInt32BigEndian(m[offset..]);

    public static void WriteUInt16(Span<byte> m, int offset, ushort value) => BinaryPrimitives.WriteUInt16BigEndian(m[offset..], value);

    public static void WriteUInt32(Span<byte> m, int offset, uint value) => BinaryPrimitives.WriteUInt32BigEndian(m[offset..], value);

    public static ushort GetId(ReadOnlySpan<byte> m) => ReadUInt16(m, 0);

    public static void SetId(Span<byte> m, ushort id) => WriteUInt16(m, 0, id);

    public static bool IsResponse(ReadOnlySpan<byte> m) => (m[2] & FlagQr) != 0;

    public static int GetOpcode(ReadOnlySpan<byte> m) => (m[2] >> 3) & 0x0f;

    public static bool IsTruncated(ReadOnlySpan<byte> m) => (m[2] & FlagTc) != 0;

    public static int GetRcode(ReadOnlySpan<byte> m) => m[3] & 0x0f;

    public static ushort QuestionCount(ReadOnlySpan<byte> m) => ReadUInt16(m, 4);

    public static ushort AnswerCount(ReadOnlySpan<byte> m) => ReadUInt16(m, 6);

    public static ushort AuthorityCount(ReadOnlySpan<byte> m) => ReadUInt16(m, 8);

    public static ushort AdditionalCount(ReadOnlySpan<byte> m) => ReadUInt16(m, 10);

    /// <summary>Turns a copied query header into a response header: QR and RA set, TC/AA/AD cleared, RD and CD kept.</summary>
    public static void MakeResponseHeader(Span<byte> m, byte rcode, bool truncated = false)
    {
        // byte 2: QR | opcode | AA | TC | RD  -> keep opcode and RD
        m[2] = (byte)(FlagQr | (m[2] & 0x78) | (truncated ? FlagTc : 0) | (m[2] & 0x01));

        // byte 3: RA | Z | AD | CD | rcode -> keep CD
        m[3] = (byte)(FlagRa | (m[3] & 0x10) | (rcode & 0x0f));
    }

    public static void ClearAuthenticData(Span<byte> m) => m[3] = (byte)(m[3] & ~FlagAd);

    public static void SetCounts(Span<byte> m, ushort qd, ushort an, ushort ns, ushort ar)
    {
        WriteUInt16(m, 4, qd);
        WriteUInt16(m, 6, an);
        WriteUInt16(m, 8, ns);
        WriteUInt16(m, 10, ar);
    }

    /// <summary>
    /// Walks a (possibly compressed) name starting at <paramref name="offset"/>, validating it: labels of 1..63
    /// octets, no reserved label types, at most 255 octets in all, and every compression pointer pointing strictly
    /// before the previous jump (so loops cannot exist) and after the header.
    /// </summary>
    /// <param name="m">The whole message (pointers are relative to its start).</param>
    /// <param name="offset">On success, the offset just after the name as written at its position.</param>
    /// <param name="allowCompression">False for names that must be written in full (the question of a query).</param>
    /// <param name="text">When not null, receives the name in canonical presentation form: lower case, no trailing dot, non-host octets escaped as \DDD; "" for the root.</param>
    /// <param name="pointers">When not null, receives the offset of every compression pointer followed.</param>
    /// <param name="isHostName">True when every label consists of letters, digits, '-' and '_' only.</param>
    public static bool TryWalkName(ReadOnlySpan<byte> m, ref int offset, bool allowCompression, StringBuilder? text, List<int>? pointers, out bool isHostName)
    {
        isHostName = true;
        var pos = offset;
        var end = -1;
        var limit = pos; // every pointer must point strictly before this
        var total = 1; // the root label
        var first = true;

        while (true)
        {
            if (pos >= m.Length)
            {
                return false;
            }

            var len = m[pos];
            if ((len & 0xc0) == 0xc0)
            {
                if (!allowCompression || pos + 1 >= m.Length)
                {
                    return false;
                }

                var target = ((len & 0x3f) << 8) | m[pos + 1];
                if (target < HeaderLength || target >= limit)
                {
                    return false;
                }

                pointers?.Add(pos);
                if (end < 0)
                {
                    end = pos + 2;
                }

                limit = target;
                pos = target;
                continue;
            }

            if ((len & 0xc0) != 0)
            {
                return false; // 0x40 (extended label) and 0x80 are not in use
            }

            if (len == 0)
            {
                offset = end < 0 ? pos + 1 : end;
                return true;
            }

            if (pos + 1 + len > m.Length)
            {
                return false;
            }

            total += len + 1;
            if (total > MaxNameLength)
            {
                return false;
            }

            var label = m.Slice(pos + 1, len);
            if (text is not null && !first)
            {
                text.Append('.');
            }

            AppendLabel(label, text, ref isHostName);
            first = false;
            pos += 1 + len;
        }
    }

    /// <summary>Reads a name into its canonical text; see <see cref="TryWalkName"/>.</summary>
    public static bool TryReadName(ReadOnlySpan<byte> m, int offset, out string name)
    {
        var sb = new StringBuilder(64);
        if (!TryWalkName(m, ref offset, allowCompression: true, sb, null, out _))
        {
            name = "";
            return false;
        }

        name = sb.ToString();
        return true;
    }

    /// <summary>The name of a query type for events: A, AAAA, HTTPS ... or TYPE1234 (RFC 3597 style).</summary>
    public static string TypeName(ushort type) => type switch
    {
        TypeA => "A",
        TypeNs => "NS",
        TypeCname => "CNAME",
        TypeSoa => "SOA",
        TypePtr => "PTR",
        13 => "HINFO",
        TypeMx => "MX",
        16 => "TXT",
        TypeAaaa => "AAAA",
        TypeSrv => "SRV",
        TypeNaptr => "NAPTR",
        TypeDname => "DNAME",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        52 => "TLSA",
        TypeSvcb => "SVCB",
        TypeHttps => "HTTPS",
        99 => "SPF",
        TypeIxfr => "IXFR",
        TypeAxfr => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => "TYPE" + type.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static void AppendLabel(ReadOnlySpan<byte> label, StringBuilder? text, ref bool isHostName)
    {
        foreach (var b in label)
        {
            var c = (char)b;
            var host = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '_';
            if (!host)
            {
                isHostName = false;
            }

            if (text is null)
            {
                continue;
            }

            if (host)
            {
                text.Append(char.ToLowerInvariant(c));
            }
            else
            {
                text.Append('\\').Append(((int)b).ToString("D3", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
    }
}
