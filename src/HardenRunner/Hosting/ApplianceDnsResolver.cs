using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using HardenRunner.Proxy;

namespace HardenRunner.Hosting;

/// <summary>
/// The proxy's resolver: asks the appliance's own DNS server (loopback, its policy and cache) for A and AAAA, so the
/// proxy forwards to addresses the appliance resolved itself for the name, never to the client's original
/// destination on trust.
/// </summary>
internal sealed class ApplianceDnsResolver(int dnsPort) : IUpstreamResolver
{
    private readonly DnsClient _client = new(
        [IPAddress.Loopback],
        [new UdpClientTransport(dnsPort), new TcpClientTransport(dnsPort)],
        false,
        3000);

    public async ValueTask<IReadOnlyList<IPAddress>> ResolveAsync(string hostName, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(hostName, out var literal))
        {
            return [literal];
        }

        var name = DomainName.Parse(hostName);
        var a = _client.ResolveAsync(name, RecordType.A, RecordClass.INet, null, cancellationToken);
        var aaaa = _client.ResolveAsync(name, RecordType.Aaaa, RecordClass.INet, null, cancellationToken);
        var result = new List<IPAddress>();
        foreach (var answer in new[] { await a.ConfigureAwait(false), await aaaa.ConfigureAwait(false) })
        {
            if (answer is null || answer.ReturnCode != ReturnCode.NoError)
            {
                continue;
            }

            result.AddRange(answer.AnswerRecords.OfType<ARecord>().Select(r => r.Address));
            result.AddRange(answer.AnswerRecords.OfType<AaaaRecord>().Select(r => r.Address));
        }

        return result;
    }
}
