namespace HardenRunner.Dns;

/// <summary>Responses the server makes up itself, by editing a copy of the query's header and question.</summary>
internal static class DnsResponses
{
    /// <summary>The UDP payload size this server advertises in the OPT record of its own responses.</summary>
    public const ushort AdvertisedUdpPayload = 1232;

    /// <summary>
    /// Header + question of <paramref name="query"/> with QR set and the given RCODE (NXDOMAIN, SERVFAIL, REFUSED,
    /// or a truncated stub with TC set), plus a minimal OPT record when the query carried one (RFC 6891 §7).
    /// </summary>
    public static byte[] FromQuery(ReadOnlySpan<byte> query, in DnsQuery q, byte rcode, bool truncated = false)
    {
        var optLength = q.HasOpt ? 11 : 0;
        var response = new byte[q.QuestionEnd + optLength];
        query[..q.QuestionEnd].CopyTo(response);
        DnsWire.MakeResponseHeader(response, rcode, truncated);
        DnsWire.SetCounts(response, 1, 0, 0, (ushort)(q.HasOpt ? 1 : 0));
        if (q.HasOpt)
        {
            var o = q.QuestionEnd;
            response[o] = 0; // root owner
            DnsWire.WriteUInt16(response, o + 1, DnsWire.TypeOpt);
            DnsWire.WriteUInt16(response, o + 3, AdvertisedUdpPayload);
            DnsWire.WriteUInt32(response, o + 5, q.OptTtl & 0x00008000); // extended rcode 0, version 0, DO echoed
            DnsWire.WriteUInt16(response, o + 9, 0);
        }

        return response;
    }

    /// <summary>A header-only response (no question) for packets whose question we did not read: FORMERR, NOTIMP.</summary>
    public static byte[] HeaderOnly(ReadOnlySpan<byte> query, byte rcode)
    {
        var response = new byte[DnsWire.HeaderLength];
        query[..DnsWire.HeaderLength].CopyTo(response);
        DnsWire.MakeResponseHeader(response, rcode);
        DnsWire.SetCounts(response, 0, 0, 0, 0);
        return response;
    }
}
