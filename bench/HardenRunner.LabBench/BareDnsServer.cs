using System.Net;
using HardenRunner.Dns;
using HardenRunner.Events;
using HardenRunner.Policy;
using HardenRunner.Policy.Loading;

namespace HardenRunner.LabBench;

/// <summary>
/// The appliance's <see cref="DnsServer"/> alone, for the breakdown of what the appliance's queries/s cost: the same
/// server, cache and policy, without the firewall behind the address sink and with events either dropped or written
/// to a JSON-lines file exactly as the appliance writes them. Started inside the runner namespace by the scenario.
/// </summary>
internal static class BareDnsServer
{
    public static async Task<int> RunAsync(int port, string policyPath, IPEndPoint upstream, string? eventsPath)
    {
        var yaml = await File.ReadAllTextAsync(policyPath).ConfigureAwait(false);
        var loaded = PolicyLoader.Parse(yaml, policyPath);
        if (!loaded.Success)
        {
            await Console.Error.WriteLineAsync(string.Join('\n', loaded.Diagnostics)).ConfigureAwait(false);
            return 2;
        }

        await using var jsonl = eventsPath is null ? null : new JsonlEventSink(eventsPath, "bench");
        IEventSink events = jsonl is null ? new NoEvents() : new CompositeEventSink(jsonl, new RunTally());
        await using var server = new DnsServer(
            new DnsServerOptions
            {
                ListenEndpoints = [new IPEndPoint(IPAddress.Loopback, port)],
                Upstreams = [upstream],
                ConfigureUpstreamSocket = null,
            },
            new PolicyEngine(loaded.Policy!),
            new NoFirewall(),
            events);
        await server.StartAsync().ConfigureAwait(false);
        Console.WriteLine("ready");

        // runs until its standard input closes or it is terminated (the lab kills it at the end)
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        try
        {
            await Task.Delay(TimeSpan.FromHours(1), stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await Console.Error.WriteLineAsync($"stats: {server.Stats}").ConfigureAwait(false);
        return 0;
    }

    private sealed class NoEvents : IEventSink
    {
        public void Publish(ApplianceEvent e)
        {
        }
    }

    private sealed class NoFirewall : IResolvedAddressSink
    {
        public ValueTask AddAsync(IPAddress address, IReadOnlyList<PortGrant> grants, TimeSpan ttl, PolicyEngine decidedBy, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
