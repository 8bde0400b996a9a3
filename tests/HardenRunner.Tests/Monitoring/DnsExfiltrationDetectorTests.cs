using HardenRunner.Events;
using HardenRunner.Monitoring.Detectors;

namespace HardenRunner.Tests.Monitoring;

public class DnsExfiltrationDetectorTests
{
    private static readonly DateTimeOffset T0 = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Observe_Base32ChunksUnderOneDomain_OneDetectionWhenTenLookEncoded()
    {
        var d = new DnsExfiltrationDetector();
        var names = Chunks(30).Select((c, i) => $"{c}.{i}.exfil.test").ToList();
        DetectionEvent? hit = null;
        var at = -1;
        for (var i = 0; i < 9; i++)
        {
            Assert.Null(d.Observe(names[i], T0.AddSeconds(i))); // fewer than ten names can never be enough
        }

        for (var i = 9; i < 20 && hit is null; i++)
        {
            hit = d.Observe(names[i], T0.AddSeconds(i), new ProcessInfo(42, "/usr/bin/dig", "dig"), new StepInfo("__run_2", null));
            at = i;
        }

        Assert.NotNull(hit);
        Assert.Equal("dns-exfiltration", hit.Type);
        Assert.Equal("exfil.test", hit.Evidence["domain"]);
        Assert.Equal("10", hit.Evidence["encodedNames"]);
        Assert.Equal(42, hit.Process?.Pid);
        Assert.Equal("__run_2", hit.Step?.Action);

        // the evidence and summary carry counts, never the (possibly secret) labels
        Assert.DoesNotContain(names.Select(n => n.Split('.')[0]), l => hit.Summary.Contains(l) || hit.Evidence.Values.Any(v => v.Contains(l)));

        // one detection per domain
        for (var i = at + 1; i < names.Count; i++)
        {
            Assert.Null(d.Observe(names[i], T0.AddSeconds(i)));
        }
    }

    [Theory]
    [InlineData("d0767c2f98c03ab34a24b227eaf02e", true)]     // hex
    [InlineData("2b3hyl4yya5lgsrewit6v4bo", true)]           // base32
    [InlineData("0hz8l5jaornkjlin6vau", true)]               // base64, lower-cased by DNS
    [InlineData("productionresultssa12", false)]
    [InlineData("pipelines.actions", false)]
    [InlineData("registry-1", false)]
    [InlineData("ec2-54-23-11-2", false)]
    [InlineData("actions-results-receiver-production", false)]
    public void LooksEncoded_TypicalLabels(string subdomain, bool expected)
    {
        Assert.Equal(expected, DnsExfiltrationDetector.LooksEncoded(subdomain, new DnsExfiltrationOptions()));
    }

    [Fact]
    public void Observe_HexAndBase64Chunks_AlsoCount()
    {
        var d = new DnsExfiltrationDetector();
        var random = new Random(7);
        DetectionEvent? hit = null;
        for (var i = 0; i < 30; i++)
        {
            var data = new byte[15];
            random.NextBytes(data);
            var label = i % 2 == 0 ? Convert.ToHexStringLower(data) : Convert.ToBase64String(data).Replace('+', '-').Replace('/', '_').TrimEnd('=');
            hit ??= d.Observe($"{label}.c2.attacker.example", T0.AddSeconds(i));
        }

        Assert.NotNull(hit);
        Assert.Equal("attacker.example", hit.Evidence["domain"]);
    }

    [Fact]
    public void Observe_RepeatedName_CountsOnce()
    {
        var d = new DnsExfiltrationDetector();
        var name = Chunks(1)[0] + ".exfil.test";
        for (var i = 0; i < 50; i++)
        {
            Assert.Null(d.Observe(name, T0.AddSeconds(i)));
        }
    }

    [Fact]
    public void Observe_AfterMoreDistinctNamesThanItRemembersParsed_StillDetects()
    {
        // the per-name parse memo is bounded and starts over: counting must not depend on it
        var d = new DnsExfiltrationDetector();
        for (var i = 0; i < 10_000; i++)
        {
            Assert.Null(d.Observe($"host{i % 3}.site{i}.example", T0));
        }

        var names = Chunks(12).Select((c, i) => $"{c}.{i}.EXFIL.test.").ToList();
        var hit = names.Select((n, i) => d.Observe(n, T0.AddSeconds(i))).FirstOrDefault(h => h is not null);
        Assert.NotNull(hit);
        Assert.Equal("exfil.test", hit.Evidence["domain"]);

        // the same name again (now remembered) counts nothing more: the domain was already reported
        Assert.Null(d.Observe(names[0], T0.AddSeconds(30)));
    }

    [Fact]
    public void Observe_ChunksSpreadBeyondTheWindow_NoDetection()
    {
        var d = new DnsExfiltrationDetector(new DnsExfiltrationOptions { Window = TimeSpan.FromMinutes(2) });
        var chunks = Chunks(18);
        for (var i = 0; i < chunks.Count; i++)
        {
            // 9 per window: every name 20 s apart → at most 7 inside any 2-minute window
            Assert.Null(d.Observe($"{chunks[i]}.slow.test", T0.AddSeconds(20 * i)));
        }
    }

    [Fact]
    public void Observe_OrdinaryCiTraffic_NoDetection()
    {
        var d = new DnsExfiltrationDetector();
        string[] names =
        [
            "github.com", "api.github.com", "codeload.github.com", "objects.githubusercontent.com", "pipelines.actions.githubusercontent.com",
            "registry.npmjs.org", "pypi.org", "files.pythonhosted.org", "ghcr.io", "pkg-containers.githubusercontent.com",
            "productionresultssa12.blob.core.windows.net", "api.nuget.org", "dotnetcli.azureedge.net", "deb.debian.org",
            "security.debian.org", "archive.ubuntu.com", "azure.archive.ubuntu.com", "registry-1.docker.io", "auth.docker.io",
            "production.cloudflare.docker.com", "fra16s42-in-f14.1e100.net", "ec2-54-23-11-2.compute-1.amazonaws.com",
        ];
        var t = T0;
        foreach (var n in names)
        {
            Assert.Null(d.Observe(n, t = t.AddSeconds(1)));
        }

        for (var i = 0; i < 40; i++)
        {
            Assert.Null(d.Observe($"service-{i:00}.internal.example.com", t = t.AddSeconds(1)));
            Assert.Null(d.Observe($"productionresultssa{i}.blob.core.windows.net", t = t.AddSeconds(1)));
            Assert.Null(d.Observe($"{i}.2.0.192.in-addr.arpa", t = t.AddSeconds(1)));
        }
    }

    [Fact]
    public void Observe_EncodedNamesUnderProviderZone_NotCounted()
    {
        var d = new DnsExfiltrationDetector();
        foreach (var (c, i) in Chunks(20).Select((c, i) => (c, i)))
        {
            Assert.Null(d.Observe($"{c}.s3.amazonaws.com", T0.AddSeconds(i)));
        }
    }

    [Theory]
    [InlineData("notgithub.com")]   // ends with a provider zone's text, but is not under it
    [InlineData("xamazonaws.com")]
    public void Observe_EncodedNamesUnderALookAlikeOfAProviderZone_Detected(string domain)
    {
        var d = new DnsExfiltrationDetector();
        var detections = Chunks(20).Select((c, i) => d.Observe($"{c}.{domain}", T0.AddSeconds(i))).Where(x => x is not null).ToList();
        Assert.Single(detections);
        Assert.Equal(domain, detections[0]!.Evidence["domain"]);
    }

    [Fact]
    public void Observe_FloodOfDistinctPlainNames_Detected()
    {
        var d = new DnsExfiltrationDetector(new DnsExfiltrationOptions { MinDistinctNames = 50 });
        DetectionEvent? hit = null;
        for (var i = 0; i < 50; i++)
        {
            hit ??= d.Observe($"word{(char)('a' + (i % 26))}{i}.wild.example", T0.AddMilliseconds(100 * i));
        }

        Assert.NotNull(hit);
        Assert.Equal("50", hit.Evidence["distinctNames"]);
    }

    [Theory]
    [InlineData("a.b.example.co.uk", 3)]
    [InlineData("a.b.example.com", 2)]
    [InlineData("x.example.com.au", 3)]
    [InlineData("x.example.de", 2)]
    public void RegistrableLabelCount_CountryCodeSecondLevels(string name, int expected)
    {
        Assert.Equal(expected, DnsExfiltrationDetector.RegistrableLabelCount(name.Split('.')));
    }

    [Fact]
    public void Observe_DomainUnderCoUk_GroupsByRegistrableDomain()
    {
        var d = new DnsExfiltrationDetector();
        DetectionEvent? hit = null;
        foreach (var (c, i) in Chunks(30).Select((c, i) => (c, i)))
        {
            hit ??= d.Observe($"{c}.evil.co.uk", T0.AddSeconds(i));
        }

        Assert.Equal("evil.co.uk", hit?.Evidence["domain"]);
    }

    private static List<string> Chunks(int count)
    {
        // a secret, base32-encoded and cut into DNS labels the way exfiltration tools do (seeded: reproducible)
        var secret = new byte[count * 15];
        new Random(count).NextBytes(secret);
        var text = ToBase32(secret).ToLowerInvariant();
        return Enumerable.Range(0, count).Select(i => text.Substring(i * 24, 24)).ToList();
    }

    private static string ToBase32(byte[] data)
    {
        const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var sb = new System.Text.StringBuilder();
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(Alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }

        return sb.ToString();
    }
}
