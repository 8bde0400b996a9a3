using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace HardenRunner.Trust;

/// <summary>
/// OpenSSL's subject-name hash (<c>openssl x509 -hash</c>, <c>X509_NAME_hash_ex</c>): the first four bytes, little
/// endian, of the SHA-1 of the name's canonical encoding. That encoding is the name's RDN sets without the outer
/// SEQUENCE, with every string value converted to UTF8String, trimmed, inner whitespace runs folded to one space and
/// ASCII letters lower-cased. CApath directories find a CA by this hash (<c>&lt;hash&gt;.0</c> links). Computed here,
/// not by running <c>openssl</c>, because minimal images (Alpine, distroless) often have no openssl executable.
/// </summary>
public static class OpenSslSubjectHash
{
    /// <summary>The hash as OpenSSL prints it: eight lower-case hex digits.</summary>
    public static string Compute(X500DistinguishedName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var digest = SHA1.HashData(CanonicalEncoding(name));
        var hash = digest[0] | ((uint)digest[1] << 8) | ((uint)digest[2] << 16) | ((uint)digest[3] << 24);
        return hash.ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
    }

    internal static byte[] CanonicalEncoding(X500DistinguishedName name)
    {
        var reader = new AsnReader(name.RawData, AsnEncodingRules.DER);
        var rdns = reader.ReadSequence();
        reader.ThrowIfNotEmpty();
        var writer = new AsnWriter(AsnEncodingRules.DER);
        while (rdns.HasData)
        {
            var set = rdns.ReadSetOf(skipSortOrderValidation: true);
            using (writer.PushSetOf())
            {
                while (set.HasData)
                {
                    var attribute = set.ReadSequence();
                    using (writer.PushSequence())
                    {
                        writer.WriteObjectIdentifier(attribute.ReadObjectIdentifier());
                        var value = attribute.ReadEncodedValue();
                        var canonical = CanonicalString(value);
                        if (canonical is null)
                        {
                            writer.WriteEncodedValue(value.Span);
                        }
                        else
                        {
                            writer.WriteEncodedValue(Utf8StringTlv(canonical));
                        }
                    }
                }
            }
        }

        return writer.Encode();
    }

    /// <summary>The canonical UTF-8 bytes of a string value, or null for a type OpenSSL copies unchanged.</summary>
    private static byte[]? CanonicalString(ReadOnlyMemory<byte> encoded)
    {
        var tag = Asn1Tag.Decode(encoded.Span, out _);
        if (tag.TagClass != TagClass.Universal || tag.IsConstructed)
        {
            return null;
        }

        var type = (UniversalTagNumber)tag.TagValue;
        if (type is not (UniversalTagNumber.UTF8String or UniversalTagNumber.PrintableString or UniversalTagNumber.T61String
            or UniversalTagNumber.IA5String or UniversalTagNumber.VisibleString or UniversalTagNumber.BMPString
            or UniversalTagNumber.UniversalString))
        {
            return null;
        }

        AsnDecoder.ReadEncodedValue(encoded.Span, AsnEncodingRules.BER, out var offset, out var length, out _);
        var content = encoded.Span.Slice(offset, length).ToArray();
        var utf8 = type switch
        {
            UniversalTagNumber.UTF8String => content,
            UniversalTagNumber.BMPString => Encoding.UTF8.GetBytes(Encoding.BigEndianUnicode.GetString(content)),
            UniversalTagNumber.UniversalString => Encoding.UTF8.GetBytes(new UTF32Encoding(bigEndian: true, byteOrderMark: false).GetString(content)),
            _ => Encoding.UTF8.GetBytes(Encoding.Latin1.GetString(content)), // one byte per character, as OpenSSL reads them
        };
        return Fold(utf8);
    }

    /// <summary>A DER UTF8String (tag 12) holding <paramref name="content"/> as it is.</summary>
    private static byte[] Utf8StringTlv(byte[] content)
    {
        var header = new List<byte> { 0x0C };
        if (content.Length < 0x80)
        {
            header.Add((byte)content.Length);
        }
        else
        {
            var lengthBytes = BitConverter.GetBytes(content.Length).Reverse().SkipWhile(b => b == 0).ToArray();
            header.Add((byte)(0x80 | lengthBytes.Length));
            header.AddRange(lengthBytes);
        }

        return [.. header, .. content];
    }

    /// <summary>OpenSSL's asn1_string_canon on UTF-8 bytes.</summary>
    private static byte[] Fold(byte[] s)
    {
        var start = 0;
        var end = s.Length;
        while (start < end && IsSpace(s[start]))
        {
            start++;
        }

        while (end > start && IsSpace(s[end - 1]))
        {
            end--;
        }

        var output = new List<byte>(end - start);
        for (var i = start; i < end;)
        {
            var b = s[i];
            if (b >= 0x80)
            {
                output.Add(b);
                i++;
            }
            else if (IsSpace(b))
            {
                output.Add((byte)' ');
                while (i < end && IsSpace(s[i]))
                {
                    i++;
                }
            }
            else
            {
                output.Add(b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b);
                i++;
            }
        }

        return [.. output];
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';
}
