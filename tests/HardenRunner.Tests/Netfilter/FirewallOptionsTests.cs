using System.Net;
using HardenRunner.Netfilter;
using HardenRunner.Policy.Matching;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Netfilter;

public sealed class FirewallOptionsTests
{
    [Fact]
    public void FromPolicy_TakesModeCidrsAndAddressLiteralEndpoints()
    {
        Assert.True(HostPattern.TryParse("192.0.2.10", out var literal, out _));
        Assert.True(HostPattern.TryParse("[2001:db8::10]", out var literal6, out _));
        Assert.True(HostPattern.TryParse("github.com", out var name, out _));
        var src = new SourceLocation("policy.yml", 1, 1);
        var policy = new PolicyDocument
        {
            EgressPolicy = EgressMode.Block,
            AllowedCidrs = [new CidrSpec(IPNetwork.Parse("10.0.0.0/8"), null, Transport.Tcp, src)],
            AllowedEndpoints =
            [
                new EndpointSpec(literal!, 22, Transport.Tcp, src),
                new EndpointSpec(literal6!, 53, Transport.Udp, src),
                new EndpointSpec(name!, 443, Transport.Tcp, src),
            ],
        };

        var o = FirewallOptions.FromPolicy(policy, 15353, 15080, 15443, [IPAddress.Parse("8.8.8.8")]);

        Assert.Equal(EgressMode.Block, o.Mode);
        Assert.Equal(
        [
            new StaticAllow(IPNetwork.Parse("10.0.0.0/8"), null, Transport.Tcp),
            new StaticAllow(IPNetwork.Parse("192.0.2.10/32"), 22, Transport.Tcp),
            new StaticAllow(IPNetwork.Parse("2001:db8::10/128"), 53, Transport.Udp),
        ], o.StaticAllows);
        Assert.Equal([IPAddress.Parse("8.8.8.8")], o.UpstreamDns);
        Assert.DoesNotContain("veth*", o.BridgeInterfaces); // a veth uplink must never count as a container
        o.Validate();
    }
}
