using System.Net;
using HardenRunner.Lab.Contract;

namespace HardenRunner.LabInternet;

/// <summary>Which lab server owns a local address.</summary>
internal sealed class ServerDirectory
{
    private readonly Dictionary<IPAddress, LabServerConfig> _byAddress = [];

    public ServerDirectory(IEnumerable<LabServerConfig> servers)
    {
        foreach (var server in servers)
        {
            foreach (var address in server.Addresses)
            {
                _byAddress[IPAddress.Parse(address)] = server;
            }
        }

        All = [.. servers];
    }

    public IReadOnlyList<LabServerConfig> All { get; }

    public LabServerConfig? Find(IPAddress? local)
    {
        if (local is null)
        {
            return null;
        }

        if (local.IsIPv4MappedToIPv6)
        {
            local = local.MapToIPv4();
        }

        return _byAddress.GetValueOrDefault(local);
    }

    public string NameOf(IPAddress? local) => Find(local)?.Name ?? "unknown";
}
