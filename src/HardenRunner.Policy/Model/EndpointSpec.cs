using HardenRunner.Policy.Matching;

namespace HardenRunner.Policy.Model;

/// <summary>One entry of <c>allowed-endpoints</c>: a host pattern, a port and a transport (TCP unless written <c>/udp</c>).</summary>
public sealed record EndpointSpec(HostPattern Host, int Port, Transport Transport, SourceLocation Source)
{
    /// <summary><c>github.com:443</c>, <c>dns.example:53/udp</c>.</summary>
    public string Text => Transport == Transport.Udp ? $"{Host.Text}:{Port}/udp" : $"{Host.Text}:{Port}";
}

/// <summary>One entry of <c>allowed-cidrs</c>: a network, an optional port (null = every port) and a transport.</summary>
public sealed record CidrSpec(System.Net.IPNetwork Network, int? Port, Transport Transport, SourceLocation Source)
{
    public string Text
    {
        get
        {
            var net = Network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && Port is not null
                ? $"[{Network}]"
                : Network.ToString();
            var port = Port is null ? "" : $":{Port}";
            return Transport == Transport.Udp ? $"{net}{port}/udp" : $"{net}{port}";
        }
    }
}

/// <summary>One <c>allow</c> or <c>deny</c> entry of a host's layer-7 rules.</summary>
public sealed record HttpRule(MethodSet Methods, PathPattern Path, SourceLocation Source)
{
    public string Text => $"{Methods.Text} {Path.Text}";
}

/// <summary>The layer-7 rules of one host.</summary>
public sealed record HostRuleSet(HostPattern Host, IReadOnlyList<HttpRule> Allow, IReadOnlyList<HttpRule> Deny, SourceLocation Source);
