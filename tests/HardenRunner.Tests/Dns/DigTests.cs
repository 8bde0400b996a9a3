using System.Diagnostics;
using System.Net;

namespace HardenRunner.Tests.Dns;

/// <summary>The DNS server against dig, a real client (BIND 9's, with its own EDNS, cookies and TCP handling).</summary>
public sealed class DigTests : IDisposable
{
    private readonly TestUpstream _upstream = TestUpstream.Start();

    public void Dispose() => _upstream.Dispose();

    private static bool HasDig => File.Exists("/usr/bin/dig");

    private static async Task<string> DigAsync(IPEndPoint server, params string[] args)
    {
        var psi = new ProcessStartInfo("dig") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[$"@{server.Address}", "-p", server.Port.ToString(), "+time=3", "+tries=1", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(cts.Token);
        return await stdout;
    }

    [SkippableFact]
    public async Task Dig_AllowedNames_UdpTcpAndIpv6()
    {
        Skip.IfNot(HasDig, "dig is not installed (apt-get install dnsutils)");
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        Assert.Equal("192.0.2.10", (await DigAsync(s.V4, "allowed.test", "A", "+short")).Trim());
        Assert.Equal("2001:db8::10", (await DigAsync(s.V4, "+tcp", "allowed.test", "AAAA", "+short")).Trim());
        Assert.Equal("192.0.2.10", (await DigAsync(s.V6, "ALLOWED.test", "A", "+short")).Trim());
        Assert.Equal(
            ["edge.cdn.test.", "edge2.cdn.test.", "192.0.2.20"],
            (await DigAsync(s.V4, "www.allowed.test", "A", "+short")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [SkippableFact]
    public async Task Dig_DeniedName_NxDomain_NotForwarded()
    {
        Skip.IfNot(HasDig, "dig is not installed (apt-get install dnsutils)");
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var udp = await DigAsync(s.V4, "c2VjcmV0.exfil.test", "TXT");
        var tcp = await DigAsync(s.V4, "+tcp", "c2VjcmV0.exfil.test", "A");

        Assert.Contains("status: NXDOMAIN", udp);
        Assert.Contains("status: NXDOMAIN", tcp);
        Assert.Equal(0, _upstream.Arrivals);
    }

    [SkippableFact]
    public async Task Dig_Https_NoEch()
    {
        Skip.IfNot(HasDig, "dig is not installed (apt-get install dnsutils)");
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        var direct = await DigAsync(_upstream.Endpoint, "allowed.test", "HTTPS", "+short");
        var viaServer = await DigAsync(s.V4, "allowed.test", "HTTPS", "+short");

        Assert.Contains("ech=", direct);
        Assert.Contains("alpn=\"h2\"", viaServer);
        Assert.Contains("port=443", viaServer);
        Assert.DoesNotContain("ech", viaServer);
    }

    [SkippableFact]
    public async Task Dig_TruncatedOverUdp_FallsBackToTcp()
    {
        Skip.IfNot(HasDig, "dig is not installed (apt-get install dnsutils)");
        await using var s = await ServerUnderTest.StartAsync([_upstream.Endpoint]);

        // +noedns: 512 bytes over UDP; dig sees TC and retries over TCP by itself
        var output = await DigAsync(s.V4, "+noedns", "big.allowed.test", "TXT");

        Assert.Contains("Truncated, retrying in TCP mode", output);
        Assert.Contains("ANSWER: 1", output);
        Assert.Contains(new string('l', 200), output);
    }
}
