using System.Buffers.Binary;
using System.Text;

namespace HardenRunner.Tests.Dns;

/// <summary>Builds DNS messages byte by byte, so tests can make exactly the packets they need (also broken ones).</summary>
internal sealed class WireBuilder
{
    private readonly List<byte> _bytes = [];

    public int Position => _bytes.Count;

    /// <summary>A header: id, flags (QR/opcode/AA/TC/RD in the high byte, RA/AD/CD/rcode in the low byte) and the four counts.</summary>
    public static WireBuilder Header(ushort id, ushort flags, ushort qd, ushort an = 0, ushort ns = 0, ushort ar = 0) =>
        new WireBuilder().U16(id).U16(flags).U16(qd).U16(an).U16(ns).U16(ar);

    /// <summary>A standard query for one name, with an OPT record when <paramref name="edns"/> is set.</summary>
    public static byte[] Query(string name, ushort type, ushort id = 0x1234, ushort? edns = null)
    {
        var b = Header(id, 0x0100, 1, 0, 0, (ushort)(edns is null ? 0 : 1)).Name(name).U16(type).U16(1);
        if (edns is { } size)
        {
            b.U8(0).U16(41).U16(size).U32(0).U16(0);
        }

        return b.ToArray();
    }

    public WireBuilder U8(byte v)
    {
        _bytes.Add(v);
        return this;
    }

    public WireBuilder U16(ushort v)
    {
        _bytes.Add((byte)(v >> 8));
        _bytes.Add((byte)v);
        return this;
    }

    public WireBuilder U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        _bytes.AddRange(b.ToArray());
        return this;
    }

    public WireBuilder Bytes(params byte[] v)
    {
        _bytes.AddRange(v);
        return this;
    }

    /// <summary>A name written in full ("" or "." is the root).</summary>
    public WireBuilder Name(string name)
    {
        Labels(name);
        return U8(0);
    }

    /// <summary>Labels without the terminating root (follow with <see cref="Pointer"/> or <see cref="U8"/>(0)).</summary>
    public WireBuilder Labels(string name)
    {
        foreach (var label in name.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            var bytes = Encoding.ASCII.GetBytes(label);
            U8((byte)bytes.Length);
            Bytes(bytes);
        }

        return this;
    }

    public WireBuilder Pointer(int offset) => U16((ushort)(0xc000 | offset));

    /// <summary>A record header; returns the offset of RDLENGTH through <paramref name="rdLengthAt"/> so it can be patched.</summary>
    public WireBuilder RecordHeader(ushort type, uint ttl, out int rdLengthAt)
    {
        U16(type).U16(1).U32(ttl);
        rdLengthAt = Position;
        return U16(0);
    }

    /// <summary>Writes the RDLENGTH at <paramref name="rdLengthAt"/> as the number of bytes written since.</summary>
    public WireBuilder EndRecord(int rdLengthAt)
    {
        var len = Position - rdLengthAt - 2;
        _bytes[rdLengthAt] = (byte)(len >> 8);
        _bytes[rdLengthAt + 1] = (byte)len;
        return this;
    }

    public WireBuilder SvcParam(ushort key, params byte[] value) => U16(key).U16((ushort)value.Length).Bytes(value);

    public byte[] ToArray() => [.. _bytes];
}
