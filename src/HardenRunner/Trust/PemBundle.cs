using System.Text;

namespace HardenRunner.Trust;

/// <summary>Byte-level helpers for PEM bundle files: appending a certificate and removing it again.</summary>
internal static class PemBundle
{
    private const string Begin = "-----BEGIN CERTIFICATE-----";
    private const string End = "-----END CERTIFICATE-----";

    /// <summary>What to append to <paramref name="existing"/> so it ends with <paramref name="pem"/> on its own lines.</summary>
    public static byte[] Suffix(ReadOnlySpan<byte> existing, string pem)
    {
        var text = pem.EndsWith('\n') ? pem : pem + "\n";
        if (existing.Length > 0 && existing[^1] != (byte)'\n')
        {
            text = "\n" + text;
        }

        return Encoding.ASCII.GetBytes(text);
    }

    /// <summary>
    /// <paramref name="bundle"/> without every PEM certificate block whose DER equals <paramref name="der"/> (and the
    /// line break after it); other bytes are kept exactly. Returns the input when there is no such block.
    /// </summary>
    public static byte[] Remove(byte[] bundle, ReadOnlySpan<byte> der)
    {
        // Latin-1 maps every byte to one char and back, so offsets and untouched bytes survive exactly
        var text = Encoding.Latin1.GetString(bundle);
        var output = new StringBuilder(text.Length);
        var position = 0;
        var removed = false;
        while (true)
        {
            var begin = text.IndexOf(Begin, position, StringComparison.Ordinal);
            if (begin < 0)
            {
                break;
            }

            var end = text.IndexOf(End, begin, StringComparison.Ordinal);
            if (end < 0)
            {
                break;
            }

            var blockEnd = end + End.Length;
            if (blockEnd < text.Length && text[blockEnd] == '\r')
            {
                blockEnd++;
            }

            if (blockEnd < text.Length && text[blockEnd] == '\n')
            {
                blockEnd++;
            }

            if (Decodes(text.AsSpan(begin + Begin.Length, end - begin - Begin.Length), der))
            {
                output.Append(text, position, begin - position);
                removed = true;
            }
            else
            {
                output.Append(text, position, blockEnd - position);
            }

            position = blockEnd;
        }

        if (!removed)
        {
            return bundle;
        }

        output.Append(text, position, text.Length - position);
        return Encoding.Latin1.GetBytes(output.ToString());
    }

    /// <summary>True when <paramref name="bundle"/> holds a PEM block of <paramref name="der"/>.</summary>
    public static bool Contains(byte[] bundle, ReadOnlySpan<byte> der) => Remove(bundle, der).Length != bundle.Length;

    private static bool Decodes(ReadOnlySpan<char> base64Lines, ReadOnlySpan<byte> der)
    {
        var compact = new StringBuilder(base64Lines.Length);
        foreach (var c in base64Lines)
        {
            if (!char.IsWhiteSpace(c))
            {
                compact.Append(c);
            }
        }

        try
        {
            return Convert.FromBase64String(compact.ToString()).AsSpan().SequenceEqual(der);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
