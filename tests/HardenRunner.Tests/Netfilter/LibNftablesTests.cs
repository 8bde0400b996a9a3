using System.Diagnostics;
using System.Net;
using System.Runtime.Versioning;
using HardenRunner.Netfilter;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.TestSupport;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Netfilter;

/// <summary>libnftables through P/Invoke, inside a test-made namespace (root only).</summary>
[SupportedOSPlatform("linux")]
public sealed class LibNftablesTests(ITestOutputHelper output)
{
    [SkippableFact]
    public async Task Run_ReturnsOutput_AndErrorsCarryNftsText()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        using var net = NetnsFixture.Create();
        using var nft = new LibNftables(net.Runner);

        await nft.RunAsync("add table inet hrprobe\n");
        Assert.Contains("table inet hrprobe", await nft.RunAsync("list tables\n"));
        Assert.Contains("\"name\": \"hrprobe\"", (await nft.RunAsync("list tables\n", NftOutput.Json)).Replace("\":\"", "\": \""));

        var syntax = await Assert.ThrowsAsync<NftablesException>(() => nft.RunAsync("add tabel inet x\n"));
        Assert.Contains("syntax error", syntax.Message);
        var missing = await Assert.ThrowsAsync<NftablesException>(() => nft.RunAsync("list table inet hrmissing\n"));
        Assert.True(missing.IsNotFound, missing.Message);

        // check mode applies nothing
        await nft.CheckAsync("add table inet hrchecked\n");
        Assert.DoesNotContain("hrchecked", await nft.RunAsync("list tables\n"));
        await Assert.ThrowsAsync<NftablesException>(() => nft.CheckAsync("add rule inet nosuch chain accept\n"));

        // the host's namespace was never touched: this context lives in the test namespace
        Assert.DoesNotContain("hrprobe", NetnsFixture.Run("nft", ["list", "tables"]));
    }

    [SkippableFact]
    public void NflogReader_ATakenGroupIsAClearError()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        using var net = NetnsFixture.Create();
        using var first = HardenRunner.Netfilter.Nflog.NflogReader.Start(4242, new CapturingSink(), net.Runner);

        var e = Assert.Throws<IOException>(() => HardenRunner.Netfilter.Nflog.NflogReader.Start(4242, new CapturingSink(), net.Runner));
        Assert.Contains("NFLOG group 4242", e.Message);
        Assert.Contains("another socket already reads this NFLOG group", e.Message);

        // groups are per namespace: the same group in another namespace is free
        using var other = NetnsFixture.Create();
        using var second = HardenRunner.Netfilter.Nflog.NflogReader.Start(4242, new CapturingSink(), other.Runner);
    }

    [SkippableFact]
    public async Task ApplyAndAllow_ElementsLandInTheSets_AndTimesArePrintedNotAsserted()
    {
        Skip.If(NetnsFixture.Unavailable is not null, NetnsFixture.Unavailable);
        await using var lab = await FirewallLab.StartAsync(FirewallLab.Options());

        var sw = Stopwatch.StartNew();
        for (var i = 0; i < 10; i++)
        {
            await lab.Firewall.ApplyAsync();
        }

        var apply = sw.Elapsed / 10;
        sw.Restart();
        for (var i = 1; i <= 100; i++)
        {
            await lab.Firewall.AllowAsync(IPAddress.Parse($"198.18.0.{i}"), [new PortGrant(9000, Transport.Tcp), new PortGrant(22, Transport.Tcp)], TimeSpan.FromSeconds(60));
        }

        var sequential = sw.Elapsed / 100;
        sw.Restart();
        await Task.WhenAll(Enumerable.Range(1, 250).Select(i => lab.Firewall.AllowAsync(IPAddress.Parse($"198.19.0.{i}"), [new PortGrant(22, Transport.Tcp)], TimeSpan.FromSeconds(60))));
        var burst = sw.Elapsed;
        var batches = lab.Firewall.AllowBatches;
        sw.Restart();
        await lab.Firewall.AllowAsync(IPAddress.Parse("198.18.0.1"), [new PortGrant(9000, Transport.Tcp), new PortGrant(22, Transport.Tcp)], TimeSpan.FromSeconds(60));
        var cached = sw.Elapsed;
        sw.Restart();
        Assert.Null(await lab.Firewall.VerifyAsync());
        var verify = sw.Elapsed;

        // timings are for reading (docs/performance.md measures with benchmarks); what is asserted is the outcome
        output.WriteLine($"apply {apply.TotalMilliseconds:0.0} ms; allow (new address, awaited one by one) {sequential.TotalMilliseconds:0.00} ms; 250 concurrent allows {burst.TotalMilliseconds:0} ms; allow already in place {cached.TotalMilliseconds:0.000} ms; verify with 450 elements {verify.TotalMilliseconds:0.0} ms");
        Assert.Equal(batches, lab.Firewall.AllowBatches);
        var set = lab.Net.Exec(lab.Runner, "nft", "list", "set", "inet", "harden_runner", "allow4");
        Assert.Contains("198.18.0.100 . tcp . 9000", set);
        Assert.Contains("198.18.0.100 . tcp . 22", set);
        Assert.Contains("198.19.0.250 . tcp . 22", set);
    }
}
