using System.Buffers;
using System.Buffers.Binary;
using HardenRunner.Policy.Matching;
using Yarp.ReverseProxy.Utilities.Tls;

namespace HardenRunner.Proxy.Connection;

/// <summary>
/// Parses the ClientHello at the start of a connection without consuming it. The handshake message may span several
/// TLS records; they are joined into one contiguous record for YARP's <see cref="TlsFrameHelper"/> (which needs a single
/// span). The server name is parsed here, strictly: exactly one host_name entry of ASCII letters, digits, '-', '_' and
/// dots (RFC 6066: internationalised names are sent as A-labels), so the name used for policy, certificate minting and the
/// upstream connection is exactly what the client sent, lower-cased. Pure and allocation-light; never throws on input.
/// </summary>
internal static class ClientHelloReader
{
    /// <summary>Largest ClientHello handshake message accepted (a post-quantum key share makes one of ~2 KiB).</summary>
    public const int MaxHandshakeLength = 32 * 1024;

    /// <summary>Largest number of buffered bytes (record headers included) before the hello is declared malformed.</summary>
    public const int MaxBufferedBytes = 64 * 1024;

    private const int RecordHeader = 5;
    private const int MaxRecordPayload = 16384 + 256; // 2^14 plus slack for lenient senders
    private const byte Handshake = 22;
    private const byte ClientHelloType = 1;

    public static ClientHelloResult Read(ReadOnlySequence<byte> buffer)
    {
        Span<byte> head = stackalloc byte[RecordHeader];
        var available = (int)Math.Min(buffer.Length, MaxBufferedBytes + RecordHeader);
        if (available == 0)
        {
            return ClientHelloResult.More(1);
        }

        var headLength = Math.Min(available, RecordHeader);
        buffer.Slice(0, headLength).CopyTo(head);
        if (head[0] != Handshake)
        {
            return ClientHelloResult.NotTls("not TLS: the first byte is not a handshake record");
        }

        if (headLength >= 2 && head[1] != 3)
        {
            return ClientHelloResult.NotTls("not TLS: unknown record version");
        }

        // Walk the records: each must be a handshake record; stop once the handshake message is complete.
        var handshake = new ArrayBufferWriter<byte>(512);
        long offset = 0;
        var needed = -1;
        while (true)
        {
            if (available - offset < RecordHeader)
            {
                return MoreOrTooBig(offset + RecordHeader);
            }

            buffer.Slice(offset, RecordHeader).CopyTo(head);
            if (head[0] != Handshake || head[1] != 3)
            {
                return ClientHelloResult.Malformed("ClientHello cannot be parsed: a non-handshake record inside the hello");
            }

            var payload = BinaryPrimitives.ReadUInt16BigEndian(head[3..]);
            if (payload is 0 or > MaxRecordPayload)
            {
                return ClientHelloResult.Malformed("ClientHello cannot be parsed: bad record length");
            }

            if (available - offset < RecordHeader + payload)
            {
                return MoreOrTooBig(offset + RecordHeader + payload);
            }

            var span = handshake.GetSpan(payload)[..payload];
            buffer.Slice(offset + RecordHeader, payload).CopyTo(span);
            handshake.Advance(payload);
            offset += RecordHeader + payload;

            if (needed < 0 && handshake.WrittenCount >= 4)
            {
                var written = handshake.WrittenSpan;
                if (written[0] != ClientHelloType)
                {
                    return ClientHelloResult.Malformed("ClientHello cannot be parsed: the first handshake message is not a ClientHello");
                }

                var length = (written[1] << 16) | (written[2] << 8) | written[3];
                if (length > MaxHandshakeLength)
                {
                    return ClientHelloResult.Malformed("ClientHello cannot be parsed: too large");
                }

                needed = 4 + length;
            }

            if (needed >= 0 && handshake.WrittenCount >= needed)
            {
                break;
            }
        }

        // One synthetic record holding exactly the ClientHello message.
        var frame = new byte[RecordHeader + needed];
        frame[0] = Handshake;
        frame[1] = 3;
        frame[2] = 1; // TLS 1.0 record version, as most clients send: TlsFrameHelper skips hellos in older records
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(3), (ushort)needed);
        handshake.WrittenSpan[..needed].CopyTo(frame.AsSpan(RecordHeader));
        return Parse(frame);
    }

    private static ClientHelloResult MoreOrTooBig(long needed) =>
        needed > MaxBufferedBytes
            ? ClientHelloResult.Malformed("ClientHello cannot be parsed: too many bytes before the hello was complete")
            : ClientHelloResult.More((int)needed);

    private static ClientHelloResult Parse(byte[] frame)
    {
        var sni = new ServerNameCapture();
        var info = default(TlsFrameHelper.TlsFrameInfo);
        bool ok;
        try
        {
            // ServerName is left out of the options: TlsFrameHelper would decode it leniently (any UTF-8, IDN to
            // Unicode); the callback sees the raw extension and ServerNameCapture parses it strictly.
            ok = TlsFrameHelper.TryGetFrameInfo(
                frame,
                ref info,
                TlsFrameHelper.ProcessingOptions.ApplicationProtocol | TlsFrameHelper.ProcessingOptions.Versions,
                sni.OnExtension);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            // TlsFrameHelper indexes some fields without checking their length first
            ok = false;
        }

        if (!ok || info.HandshakeType != TlsHandshakeType.ClientHello)
        {
            return ClientHelloResult.Malformed("ClientHello cannot be parsed");
        }

        if (sni.Error is { } error)
        {
            return ClientHelloResult.Malformed(error);
        }

        return ClientHelloResult.Ok(new ClientHelloInfo(
            sni.Name,
            info.ApplicationProtocols.HasFlag(TlsFrameHelper.ApplicationProtocolInfo.Http2),
            info.ApplicationProtocols.HasFlag(TlsFrameHelper.ApplicationProtocolInfo.Http11),
            info.SupportedVersions));
    }

    /// <summary>Parses the server_name extension (RFC 6066 §3) when <see cref="TlsFrameHelper"/> reports it.</summary>
    private sealed class ServerNameCapture
    {
        private const ushort ServerNameExtension = 0;
        private int _seen;

        public string? Name { get; private set; }

        public string? Error { get; private set; }

        public bool OnExtension(ref TlsFrameHelper.TlsFrameInfo info, ExtensionType type, ReadOnlySpan<byte> data)
        {
            if ((ushort)type != ServerNameExtension)
            {
                return true;
            }

            if (++_seen > 1)
            {
                Error = "ClientHello cannot be parsed: more than one server_name extension";
                Name = null;
                return false;
            }

            Name = ParseList(data, out var error);
            Error = error;
            return error is null;
        }

        private static string? ParseList(ReadOnlySpan<byte> data, out string? error)
        {
            error = "ClientHello cannot be parsed: malformed server_name extension";
            if (data.Length < 2 || BinaryPrimitives.ReadUInt16BigEndian(data) != data.Length - 2)
            {
                return null;
            }

            var list = data[2..];
            string? name = null;
            while (!list.IsEmpty)
            {
                if (list.Length < 3)
                {
                    return null;
                }

                var nameType = list[0];
                var length = BinaryPrimitives.ReadUInt16BigEndian(list[1..]);
                if (list.Length < 3 + length)
                {
                    return null;
                }

                var value = list.Slice(3, length);
                list = list[(3 + length)..];
                if (nameType != 0)
                {
                    continue; // other name types are unknown; RFC 6066 servers ignore them
                }

                if (name is not null)
                {
                    error = "ClientHello cannot be parsed: more than one host_name in server_name";
                    return null;
                }

                name = ToHostName(value);
                if (name is null)
                {
                    error = "ClientHello cannot be parsed: the server name is not a valid host name";
                    return null;
                }
            }

            error = null;
            return name;
        }

        private static string? ToHostName(ReadOnlySpan<byte> value)
        {
            if (value.IsEmpty || value.Length > 254)
            {
                return null;
            }

            Span<char> chars = stackalloc char[value.Length];
            for (var i = 0; i < value.Length; i++)
            {
                var b = value[i];
                if (b is 0 or > 0x7e)
                {
                    return null;
                }

                chars[i] = (char)b;
            }

            var trimmed = HostName.TrimTrailingDot(chars);
            return HostName.IsValidAsciiName(trimmed) ? trimmed.ToString().ToLowerInvariant() : null;
        }
    }
}
