using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace HardenRunner.Proxy;

/// <summary>
/// Reads SO_ORIGINAL_DST (the address conntrack recorded before the nftables redirect). The level follows the local
/// address family: IPv4 and IPv4-mapped addresses on a dual-mode socket use SOL_IP, IPv6 uses SOL_IPV6 (the other
/// level fails cleanly with EADDRNOTAVAIL / EOPNOTSUPP). The kernel does not report the sockaddr's length, so the
/// result is parsed by its <c>sa_family</c>.
/// </summary>
public sealed class SoOriginalDestinationReader : IOriginalDestinationReader
{
    private const int SolIp = 0;
    private const int SolIpv6 = 41;
    private const int SoOriginalDst = 80; // SO_ORIGINAL_DST == IP6T_SO_ORIGINAL_DST
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;

    public IPEndPoint? Read(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (socket.LocalEndPoint is not IPEndPoint local)
        {
            return null;
        }

        var level = local.AddressFamily == AddressFamily.InterNetwork || local.Address.IsIPv4MappedToIPv6 ? SolIp : SolIpv6;
        Span<byte> buffer = stackalloc byte[128];
        buffer.Clear();
        try
        {
            socket.GetRawSocketOption(level, SoOriginalDst, buffer);
        }
        catch (SocketException)
        {
            return null; // no conntrack entry, or not a redirected flow of this family
        }

        return Parse(buffer);
    }

    /// <summary>Parses a sockaddr_in or sockaddr_in6 (sa_family in host byte order, port and address in network order).</summary>
    internal static IPEndPoint? Parse(ReadOnlySpan<byte> sockaddr)
    {
        if (sockaddr.Length < 2)
        {
            return null;
        }

        var family = MemoryMarshal.Read<ushort>(sockaddr);
        switch (family)
        {
            case AfInet when sockaddr.Length >= 8:
                return new IPEndPoint(new IPAddress(sockaddr.Slice(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
            case AfInet6 when sockaddr.Length >= 28:
                var address = new IPAddress(sockaddr.Slice(8, 16), MemoryMarshal.Read<uint>(sockaddr[24..]));
                return new IPEndPoint(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address, BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]));
            default:
                return null;
        }
    }
}
