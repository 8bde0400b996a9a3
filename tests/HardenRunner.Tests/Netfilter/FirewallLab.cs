using System.Runtime.Versioning;
using HardenRunner.Netfilter;
using HardenRunner.Netfilter.Nflog;
using HardenRunner.Tests.TestSupport;

namespace HardenRunner.Tests.Netfilter;

/// <summary>
/// A firewall running in a test-made runner namespace: nft (libnftables on a thread inside the namespace), the
/// firewall, the NFLOG reader and a capturing event sink. Disposal deletes the namespaces, and with them the table.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class FirewallLab : IAsyncDisposable
{
    public const int DnsPort = 15353;
    public const int HttpPort = 15080;
    public const int HttpsPort = 15443;
    public static readonly TimeSpan Blocked = TimeSpan.FromMilliseconds(700);
    public static readonly TimeSpan Open = TimeSpan.FromSeconds(3);

    private FirewallLab(NetnsFixture net, LibNftables nft, Firewall firewall, NflogReader reader, CapturingSink sink)
    {
        Net = net;
        Nft = nft;
        Firewall = firewall;
        Reader = reader;
        Sink = sink;
    }

    public NetnsFixture Net { get; }

    public LibNftables Nft { get; }

    public Firewall Firewall { get; }

    public NflogReader Reader { get; }

    public CapturingSink Sink { get; }

    public string Runner => Net.Runner;

    public static FirewallOptions Options(Policy.Model.EgressMode mode = Policy.Model.EgressMode.Block) => new()
    {
        Mode = mode,
        DnsPort = DnsPort,
        HttpProxyPort = HttpPort,
        HttpsProxyPort = HttpsPort,
        VerifyInterval = TimeSpan.FromHours(1),
    };

    public static async Task<FirewallLab> StartAsync(FirewallOptions options, bool withContainer = false)
    {
        var net = NetnsFixture.Create(withContainer);
        LibNftables? nft = null;
        Firewall? firewall = null;
        NflogReader? reader = null;
        try
        {
            var sink = new CapturingSink();
            nft = new LibNftables(net.Runner);
            firewall = new Firewall(options, nft, sink);
            reader = NflogReader.Start(options.NflogGroup, sink, net.Runner);
            await firewall.ApplyAsync();
            return new FirewallLab(net, nft, firewall, reader, sink);
        }
        catch
        {
            reader?.Dispose();
            if (firewall is not null)
            {
                await firewall.DisposeAsync();
            }

            nft?.Dispose();
            net.Dispose();
            throw;
        }
    }

    /// <summary>The runner's ruleset listing (nft CLI inside the namespace).</summary>
    public string ListRuleset() => Net.Exec(Runner, "nft", "list", "ruleset");

    public async ValueTask DisposeAsync()
    {
        Reader.Dispose();
        await Firewall.DisposeAsync();
        Nft.Dispose();
        Net.Dispose();
    }
}
