using System.Net;
using System.Net.Sockets;

namespace HardenRunner.Proxy;

/// <summary>Recognises a host that is an IP address literal (dotted-quad IPv4, IPv6 with or without brackets), as the policy does.</summary>
internal static class AddressLiteral
{
    public static bool TryParse(ReadOnlySpan<char> host, out IPAddress address)
    {
        address = IPAddress.None;
        if (host.Length > 2 && host[0] == '[' && host[^1] == ']')
        {
            host = host[1..^1];
        }

        if (host.IsEmpty || !(char.IsAsciiDigit(host[0]) || host.Contains(':')))
        {
            return false;
        }

        if (!IPAddress.TryParse(host, out var parsed))
        {
            return false;
        }

        // "1.2" and "0x7f.1" parse as IPv4 in IPAddress but are names to the policy (and to a resolver)
        if (parsed.AddressFamily == AddressFamily.InterNetwork && (host.Count('.') != 3 || host.ContainsAny('x', 'X')))
        {
            return false;
        }

        address = parsed.IsIPv4MappedToIPv6 ? parsed.MapToIPv4() : parsed;
        return true;
    }
}
