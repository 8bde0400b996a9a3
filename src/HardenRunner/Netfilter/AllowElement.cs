using System.Net;
using System.Net.Sockets;
using HardenRunner.Policy.Model;

namespace HardenRunner.Netfilter;

/// <summary>One element of a dynamic allow set: a destination address, transport and port.</summary>
public readonly record struct AllowElement
{
    public AllowElement(IPAddress address, Transport transport, int port)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        else if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0)
        {
            address = new IPAddress(address.GetAddressBytes());
        }

        if (address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ArgumentException($"{address} is neither IPv4 nor IPv6", nameof(address));
        }

        if (port is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(port), port, "port must be 1-65535");
        }

        Address = address;
        Transport = transport;
        Port = port;
    }

    public IPAddress Address { get; }

    public Transport Transport { get; }

    public int Port { get; }

    public override string ToString() => NftRulesetBuilder.FormatElement(this);
}

/// <summary>An element and the timeout to give it.</summary>
public readonly record struct AllowElementTimeout(AllowElement Element, TimeSpan Timeout);
