using System.Net;

namespace HardenRunner.Dns;

/// <summary>An address found in an answer for the queried name (directly or at the end of its CNAME chain).</summary>
internal readonly record struct ResolvedAddress(IPAddress Address, uint Ttl);

/// <summary>The result of inspecting an upstream response: the bytes to send to the client and what they resolve to.</summary>
internal sealed record RewrittenResponse(byte[] Message, IReadOnlyList<ResolvedAddress> Addresses, bool EchStripped);

/// <summary>
/// Reads an upstream response completely (every record of every section, names inside known RDATA types) and
/// produces the message the client gets: <c>ech</c> removed from SVCB/HTTPS records (with RDLENGTH and every
/// compression pointer behind the edit fixed), answer TTLs capped, AD cleared when something was changed, and
/// nothing after the last record. Returns null for a response it cannot read completely: such a response is never
/// passed to a client.
/// </summary>
internal static class DnsResponseRewriter
{
    private const int MaxChainSteps = 16;

    public static RewrittenResponse? Rewrite(ReadOnlySpan<byte> m, uint? maxAnswerTtl)
    {
        if (m.Length < DnsWire.HeaderLength || !DnsWire.IsResponse(m) || DnsWire.QuestionCount(m) != 1)
        {
            return null;
        }

        var pointers = new List<int>();
        var offset = DnsWire.HeaderLength;
        if (!DnsWire.TryWalkName(m, ref offset, allowCompression: true, null, pointers, out _) || offset + 4 > m.Length)
        {
            return null;
        }

        offset += 4;
        var records = new List<RecordInfo>();
        var edits = new List<Edit>();
        int[] counts = [DnsWire.AnswerCount(m), DnsWire.AuthorityCount(m), DnsWire.AdditionalCount(m)];
        for (var section = 0; section < 3; section++)
        {
            for (var n = 0; n < counts[section]; n++)
            {
                if (!TryReadRecord(m, ref offset, section, pointers, records, edits))
                {
                    return null;
                }
            }
        }

        var end = offset;
        var output = edits.Count == 0 ? m[..end].ToArray() : ApplyEdits(m[..end], edits, pointers);
        if (output is null)
        {
            return null;
        }

        if (edits.Count > 0)
        {
            DnsWire.ClearAuthenticData(output);
        }

        if (maxAnswerTtl is { } cap)
        {
            foreach (var r in records)
            {
                if (r.Section == 0 && r.Type != DnsWire.TypeOpt && r.Ttl > cap)
                {
                    DnsWire.WriteUInt32(output, Map(r.TtlOffset, edits), cap);
                }
            }
        }

        return new RewrittenResponse(output, CollectAddresses(m, records), edits.Count > 0);
    }

    private static bool TryReadRecord(ReadOnlySpan<byte> m, ref int offset, int section, List<int> pointers, List<RecordInfo> records, List<Edit> edits)
    {
        var owner = offset;
        if (!DnsWire.TryWalkName(m, ref offset, allowCompression: true, null, pointers, out _) || offset + 10 > m.Length)
        {
            return false;
        }

        var type = DnsWire.ReadUInt16(m, offset);
        var ttl = DnsWire.ReadUInt32(m, offset + 4);
        var rdLength = DnsWire.ReadUInt16(m, offset + 8);
        var ttlOffset = offset + 4;
        var rdLengthOffset = offset + 8;
        offset += 10;
        var rdata = offset;
        var rdEnd = rdata + rdLength;
        if (rdEnd > m.Length || !RdataIsReadable(m, type, rdata, rdEnd, pointers, rdLengthOffset, edits))
        {
            return false;
        }

        records.Add(new RecordInfo(section, owner, type, ttlOffset, ttl, rdata, rdLength));
        offset = rdEnd;
        return true;
    }

    /// <summary>Validates the RDATA of types whose layout we know (names may be compressed in the RFC 3597 §4 list) and plans the ECH edit.</summary>
    private static bool RdataIsReadable(ReadOnlySpan<byte> m, ushort type, int rdata, int rdEnd, List<int> pointers, int rdLengthOffset, List<Edit> edits)
    {
        var length = rdEnd - rdata;
        switch (type)
        {
            case DnsWire.TypeA:
                return length == 4;
            case DnsWire.TypeAaaa:
                return length == 16;
            case DnsWire.TypeNs or DnsWire.TypeMd or DnsWire.TypeMf or DnsWire.TypeCname or DnsWire.TypeMb or DnsWire.TypeMg or DnsWire.TypeMr or DnsWire.TypePtr or DnsWire.TypeDname:
                return NamesFill(m, rdata, rdEnd, 1, pointers);
            case DnsWire.TypeSoa:
                {
                    var o = rdata;
                    return WalkIn(m, ref o, rdEnd, pointers) && WalkIn(m, ref o, rdEnd, pointers) && o + 20 == rdEnd;
                }

            case DnsWire.TypeMinfo or DnsWire.TypeRp:
                return NamesFill(m, rdata, rdEnd, 2, pointers);
            case DnsWire.TypeMx or DnsWire.TypeAfsdb or DnsWire.TypeRt or DnsWire.TypeKx:
                return length > 2 && NamesFill(m, rdata + 2, rdEnd, 1, pointers);
            case DnsWire.TypePx:
                return length > 2 && NamesFill(m, rdata + 2, rdEnd, 2, pointers);
            case DnsWire.TypeSrv:
                return length > 6 && NamesFill(m, rdata + 6, rdEnd, 1, pointers);
            case DnsWire.TypeNaptr:
                {
                    var o = rdata + 4;
                    for (var s = 0; s < 3; s++)
                    {
                        if (o >= rdEnd)
                        {
                            return false;
                        }

                        o += 1 + m[o];
                    }

                    return o < rdEnd && WalkIn(m, ref o, rdEnd, pointers) && o == rdEnd;
                }

            case DnsWire.TypeSvcb or DnsWire.TypeHttps:
                {
                    var o = rdata + 2;
                    if (length < 3 || !WalkIn(m, ref o, rdEnd, pointers))
                    {
                        return false;
                    }

                    var parameters = m[o..rdEnd];
                    if (!SvcParams.IsWellFormed(parameters))
                    {
                        return false;
                    }

                    var stripped = SvcParams.StripEch(parameters);
                    if (stripped is not null)
                    {
                        edits.Add(new Edit(o, rdEnd, stripped, rdLengthOffset, (ushort)(o - rdata + stripped.Length)));
                    }

                    return true;
                }

            default:
                return true; // opaque RDATA (RFC 3597): passed unchanged
        }
    }

    private static bool NamesFill(ReadOnlySpan<byte> m, int start, int rdEnd, int names, List<int> pointers)
    {
        var o = start;
        for (var i = 0; i < names; i++)
        {
            if (!WalkIn(m, ref o, rdEnd, pointers))
            {
                return false;
            }
        }

        return o == rdEnd;
    }

    private static bool WalkIn(ReadOnlySpan<byte> m, ref int offset, int rdEnd, List<int> pointers) =>
        DnsWire.TryWalkName(m, ref offset, allowCompression: true, null, pointers, out _) && offset <= rdEnd;

    private static byte[]? ApplyEdits(ReadOnlySpan<byte> m, List<Edit> edits, List<int> pointers)
    {
        var length = m.Length;
        foreach (var e in edits)
        {
            length += e.Replacement.Length - (e.End - e.Start);
        }

        var output = new byte[length];
        var read = 0;
        var write = 0;
        foreach (var e in edits)
        {
            m[read..e.Start].CopyTo(output.AsSpan(write));
            write += e.Start - read;
            e.Replacement.CopyTo(output.AsSpan(write));
            write += e.Replacement.Length;
            read = e.End;
        }

        m[read..].CopyTo(output.AsSpan(write));

        foreach (var e in edits)
        {
            DnsWire.WriteUInt16(output, Map(e.RdLengthOffset, edits), e.NewRdLength);
        }

        foreach (var p in pointers)
        {
            var target = ((m[p] & 0x3f) << 8) | m[p + 1];
            foreach (var e in edits)
            {
                if ((target >= e.Start && target < e.End) || (p >= e.Start && p < e.End))
                {
                    return null; // a name inside the params we rewrote: cannot be kept consistent
                }
            }

            var newTarget = Map(target, edits);
            if (newTarget > 0x3fff)
            {
                return null;
            }

            var newPos = Map(p, edits);
            output[newPos] = (byte)(0xc0 | (newTarget >> 8));
            output[newPos + 1] = (byte)newTarget;
        }

        return output;
    }

    /// <summary>Where an offset of the original message lies in the edited one (offsets inside an edit are never asked for).</summary>
    private static int Map(int offset, List<Edit> edits)
    {
        var shift = 0;
        foreach (var e in edits)
        {
            if (e.End <= offset)
            {
                shift += e.Replacement.Length - (e.End - e.Start);
            }
        }

        return offset + shift;
    }

    private static List<ResolvedAddress> CollectAddresses(ReadOnlySpan<byte> m, List<RecordInfo> records)
    {
        var addresses = new List<ResolvedAddress>();
        if (!DnsWire.TryReadName(m, DnsWire.HeaderLength, out var qname))
        {
            return addresses;
        }

        // the queried name and every name its CNAME chain reaches (answer section only)
        var chain = new HashSet<string>(StringComparer.Ordinal) { qname };
        for (var step = 0; step < MaxChainSteps; step++)
        {
            var grew = false;
            foreach (var r in records)
            {
                if (r.Section == 0 && r.Type == DnsWire.TypeCname
                    && DnsWire.TryReadName(m, r.Owner, out var owner) && chain.Contains(owner)
                    && DnsWire.TryReadName(m, r.Rdata, out var target) && chain.Add(target))
                {
                    grew = true;
                }
            }

            if (!grew)
            {
                break;
            }
        }

        foreach (var r in records)
        {
            if (r.Section != 0 || (r.Type != DnsWire.TypeA && r.Type != DnsWire.TypeAaaa))
            {
                continue;
            }

            if (DnsWire.TryReadName(m, r.Owner, out var owner) && chain.Contains(owner))
            {
                var address = new IPAddress(m.Slice(r.Rdata, r.RdLength));
                if (!addresses.Exists(a => a.Address.Equals(address)))
                {
                    addresses.Add(new ResolvedAddress(address, r.Ttl));
                }
            }
        }

        return addresses;
    }

    private readonly record struct RecordInfo(int Section, int Owner, ushort Type, int TtlOffset, uint Ttl, int Rdata, int RdLength);

    private sealed record Edit(int Start, int End, byte[] Replacement, int RdLengthOffset, ushort NewRdLength);
}
