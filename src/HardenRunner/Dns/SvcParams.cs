namespace HardenRunner.Dns;

/// <summary>
/// The SvcParams of SVCB/HTTPS records (RFC 9460 §2.2): a sequence of key (2 octets), length (2 octets), value.
/// Removing <c>ech</c> (key 5) makes clients send their real SNI in the clear, which the proxy needs to check.
/// </summary>
internal static class SvcParams
{
    public const ushort KeyMandatory = 0;
    public const ushort KeyEch = 5;

    /// <summary>Are the params a well-formed key/length/value sequence?</summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> p)
    {
        var i = 0;
        while (i < p.Length)
        {
            if (i + 4 > p.Length)
            {
                return false;
            }

            i += 4 + DnsWire.ReadUInt16(p, i + 2);
        }

        return i == p.Length;
    }

    /// <summary>
    /// Returns the params without <c>ech</c>, and without <c>ech</c> in the <c>mandatory</c> list (a mandatory list
    /// left empty is removed too); null when there was nothing to remove. The params must be well-formed.
    /// </summary>
    public static byte[]? StripEch(ReadOnlySpan<byte> p)
    {
        if (!NeedsStrip(p))
        {
            return null;
        }

        var output = new List<byte>(p.Length);
        var i = 0;
        while (i < p.Length)
        {
            var key = DnsWire.ReadUInt16(p, i);
            var len = DnsWire.ReadUInt16(p, i + 2);
            var value = p.Slice(i + 4, len);
            i += 4 + len;
            if (key == KeyEch)
            {
                continue;
            }

            if (key == KeyMandatory && len % 2 == 0)
            {
                var keys = new List<byte>(len);
                for (var k = 0; k < len; k += 2)
                {
                    if (DnsWire.ReadUInt16(value, k) != KeyEch)
                    {
                        keys.Add(value[k]);
                        keys.Add(value[k + 1]);
                    }
                }

                if (keys.Count == 0)
                {
                    continue;
                }

                AddParam(output, key, keys.ToArray());
                continue;
            }

            AddParam(output, key, value);
        }

        return [.. output];
    }

    private static bool NeedsStrip(ReadOnlySpan<byte> p)
    {
        var i = 0;
        while (i < p.Length)
        {
            var key = DnsWire.ReadUInt16(p, i);
            var len = DnsWire.ReadUInt16(p, i + 2);
            if (key == KeyEch)
            {
                return true;
            }

            if (key == KeyMandatory)
            {
                for (var k = 0; k + 1 < len; k += 2)
                {
                    if (DnsWire.ReadUInt16(p, i + 4 + k) == KeyEch)
                    {
                        return true;
                    }
                }
            }

            i += 4 + len;
        }

        return false;
    }

    private static void AddParam(List<byte> output, ushort key, ReadOnlySpan<byte> value)
    {
        output.Add((byte)(key >> 8));
        output.Add((byte)key);
        output.Add((byte)(value.Length >> 8));
        output.Add((byte)value.Length);
        foreach (var b in value)
        {
            output.Add(b);
        }
    }
}
