using System.Diagnostics;
using HardenRunner.Tls;

namespace HardenRunner.Tests.Tls;

/// <summary>Certificates minted when a name is resolved, before its handshake (<see cref="CertificateWarmer"/>).</summary>
public sealed class CertificateWarmerTests
{
    [Fact]
    public async Task Warm_InterceptedName_MintedOnce_TheHandshakeFindsItCached()
    {
        using var ca = EphemeralCertificateAuthority.Create();
        using var warmer = new CertificateWarmer(ca, _ => true);

        warmer.Warm("allowed.test");
        warmer.Warm("allowed.test"); // A and AAAA both resolve it
        await UntilAsync(() => warmer.Minted == 1 && ca.CachedNames == 1);
        warmer.Warm("Allowed.Test");
        warmer.Warm("other.test");
        await UntilAsync(() => warmer.Minted == 2); // counted once the context is made (the cache lists the name earlier)

        Assert.Equal(2, ca.CachedNames);
        Assert.Equal(2, ca.MintCount);
        Assert.Equal(2, warmer.Minted);
        _ = ca.GetServerContext("allowed.test");
        Assert.Equal(2, ca.MintCount); // the handshake's lookup is a hit
    }

    [Fact]
    public async Task Warm_NameTheProxyWouldNotIntercept_OrNoCertificateName_NothingMinted_LoopGoesOn()
    {
        using var ca = EphemeralCertificateAuthority.Create();
        using var warmer = new CertificateWarmer(ca, name => name != "passthrough.test");

        warmer.Warm("passthrough.test");
        warmer.Warm("_dmarc..bad"); // not a name a certificate can carry
        warmer.Warm("last.test");
        await UntilAsync(() => warmer.Minted == 1);

        Assert.Equal(1, ca.MintCount);
        Assert.Equal(1, warmer.Minted);
        Assert.Equal(1, ca.CachedNames);
    }

    [Fact]
    public async Task Warm_PolicyCheckThrows_TheNameIsCountedAsFailed_TheThreadGoesOn()
    {
        // the warmer has a thread of its own: an exception escaping it would end the whole appliance
        using var ca = EphemeralCertificateAuthority.Create();
        using var warmer = new CertificateWarmer(ca, name => name == "bug.test" ? throw new NullReferenceException("a bug") : true);

        warmer.Warm("bug.test");
        warmer.Warm("after.test");
        await UntilAsync(() => warmer.Minted == 1);

        Assert.Equal(1, warmer.Failed);
        Assert.Equal(1, ca.MintCount);
    }

    [Fact]
    public async Task Warm_CacheFull_NothingPushedOut()
    {
        using var ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { CacheCapacity = 2 });
        _ = ca.GetServerContext("in-use-1.test");
        _ = ca.GetServerContext("in-use-2.test");
        using var warmer = new CertificateWarmer(ca, _ => true);
        var asked = 0;
        using var probe = new CertificateWarmer(ca, _ => Interlocked.Increment(ref asked) > 0);

        warmer.Warm("new.test");
        probe.Warm("new.test");
        await Task.Delay(200);

        Assert.Equal(2, ca.MintCount);
        Assert.Equal(0, warmer.Minted);
        Assert.Equal(0, asked); // a full cache is checked first: not even the policy is asked
    }

    [Fact]
    public async Task Warm_QueueFull_ExtraNamesSkipped_WarmNeverBlocks()
    {
        using var ca = EphemeralCertificateAuthority.Create();
        using var release = new ManualResetEventSlim();
        using var busy = new ManualResetEventSlim();
        using var warmer = new CertificateWarmer(ca, _ =>
        {
            busy.Set();
            return release.Wait(TimeSpan.FromSeconds(20));
        });

        warmer.Warm("first.test");
        Assert.True(busy.Wait(TimeSpan.FromSeconds(10))); // the loop holds the first name
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < CertificateWarmer.MaxQueued + 10; i++)
        {
            warmer.Warm($"n{i}.test");
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), "Warm waited");
        Assert.Equal(10, warmer.Skipped);
        release.Set();
        await UntilAsync(() => warmer.Minted == CertificateWarmer.MaxQueued + 1);
        Assert.Equal(CertificateWarmer.MaxQueued + 1, ca.CachedNames);
    }

    private static async Task UntilAsync(Func<bool> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!condition() && watch.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(10);
        }

        Assert.True(condition(), "condition not met within 20 s");
    }
}
