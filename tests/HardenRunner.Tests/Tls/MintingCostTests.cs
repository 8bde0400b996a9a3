using System.Diagnostics;
using System.Globalization;
using HardenRunner.Tls;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Tls;

/// <summary>Measures minting and cached lookups (printed, not asserted: the numbers depend on the machine).</summary>
public sealed class MintingCostTests(ITestOutputHelper output)
{
    [Fact]
    public void Measure_MintAndCachedLookup()
    {
        using var ca = EphemeralCertificateAuthority.Create();
        var create = Stopwatch.StartNew();
        using (EphemeralCertificateAuthority.Create())
        {
            create.Stop();
        }

        for (var i = 0; i < 20; i++)
        {
            ca.GetServerContext($"warm{i}.example");
        }

        const int mints = 200;
        var samples = new double[mints];
        for (var i = 0; i < mints; i++)
        {
            var t = Stopwatch.GetTimestamp();
            ca.GetServerContext($"host{i}.example");
            samples[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
        }

        const int lookups = 200_000;
        var lookup = Stopwatch.StartNew();
        for (var i = 0; i < lookups; i++)
        {
            ca.GetServerContext(i % 2 == 0 ? "host7.example" : "host8.example");
        }

        lookup.Stop();
        var spelled = Stopwatch.StartNew();
        for (var i = 0; i < lookups; i++)
        {
            ca.GetServerContext(i % 2 == 0 ? "HOST7.example." : "Host8.Example");
        }

        spelled.Stop();
        Array.Sort(samples);
        var report = string.Create(
            CultureInfo.InvariantCulture,
            $"CA creation {create.Elapsed.TotalMilliseconds:F2} ms; new name (leaf + SslStreamCertificateContext), N={mints}: "
            + $"median {samples[mints / 2]:F3} ms, p10 {samples[mints / 10]:F3}, p90 {samples[mints * 9 / 10]:F3}, max {samples[^1]:F3}; "
            + $"cached lookup: {lookup.Elapsed.TotalMilliseconds * 1e6 / lookups:F0} ns for a normalised name (the SNI case), "
            + $"{spelled.Elapsed.TotalMilliseconds * 1e6 / lookups:F0} ns for another spelling (parse + normalise + hit)");
        output.WriteLine(report);
        Console.WriteLine("[measure] " + report);

        Assert.Equal(mints + 20, ca.MintCount);
    }
}
