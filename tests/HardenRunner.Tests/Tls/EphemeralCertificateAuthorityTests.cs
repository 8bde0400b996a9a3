using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HardenRunner.Tls;

namespace HardenRunner.Tests.Tls;

public sealed class EphemeralCertificateAuthorityTests : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    private readonly EphemeralCertificateAuthority _ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = "test" });

    public void Dispose() => _ca.Dispose();

    [Fact]
    public void Create_CaCertificate_P256RootWithPathLenZeroAndCertSignUsage()
    {
        var ca = _ca.Certificate;

        Assert.Equal("CN=HardenRunner Ephemeral CA test, O=HardenRunner", ca.Subject);
        Assert.Equal(ca.Subject, ca.Issuer);
        Assert.Equal("1.2.840.10045.2.1", ca.PublicKey.Oid.Value); // id-ecPublicKey
        using (var key = ca.GetECDsaPublicKey()!)
        {
            Assert.Equal(256, key.KeySize);
        }

        var constraints = ca.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.True(constraints.Critical);
        Assert.True(constraints.CertificateAuthority);
        Assert.True(constraints.HasPathLengthConstraint);
        Assert.Equal(0, constraints.PathLengthConstraint);
        var usage = ca.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.True(usage.Critical);
        Assert.Equal(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, usage.KeyUsages);
        Assert.Single(ca.Extensions.OfType<X509SubjectKeyIdentifierExtension>());

        var now = DateTime.UtcNow;
        Assert.InRange(ca.NotBefore.ToUniversalTime(), now.AddMinutes(-6), now.AddMinutes(-4));
        Assert.InRange(ca.NotAfter.ToUniversalTime(), now.AddHours(24).AddMinutes(-1), now.AddHours(24).AddMinutes(1));
        Assert.Matches("^[0-9a-f]{16}$", _ca.Id);
    }

    [Fact]
    public void Create_DefaultLabel_IsTheUtcStartTime()
    {
        using var ca = EphemeralCertificateAuthority.Create();

        Assert.Matches(@"^CN=HardenRunner Ephemeral CA \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, O=HardenRunner$", ca.Certificate.Subject);
    }

    [Theory]
    [InlineData("evil, CN=x")]
    [InlineData("a\nb")]
    [InlineData("")]
    [InlineData("0123456789012345678901234567890123456789")]
    public void Create_BadLabel_Throws(string label)
    {
        Assert.Throws<ArgumentException>(() => EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = label }));
    }

    [Fact]
    public void Create_LifetimeOutOfRange_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Lifetime = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Lifetime = TimeSpan.FromDays(31) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { CacheCapacity = 0 }));
    }

    [Fact]
    public void Leaf_ChainBuildsAgainstTheCaAlone_AndMatchesTheName()
    {
        var context = _ca.GetServerContext("Allowed.Example.");
        var leaf = context.TargetCertificate;

        Assert.True(BuildsChain(leaf, _ca.Certificate, out var chainLength), "the leaf must chain to the ephemeral CA");
        Assert.Equal(2, chainLength);
        Assert.True(leaf.MatchesHostname("allowed.example"));
        Assert.False(leaf.MatchesHostname("other.example"));
        Assert.Equal(["allowed.example"], leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames());
        Assert.Equal(_ca.Certificate.Subject, leaf.Issuer);
    }

    [Fact]
    public void Leaf_ChainFailsAgainstAnotherCa()
    {
        using var other = EphemeralCertificateAuthority.Create();
        var leaf = _ca.GetServerContext("allowed.example").TargetCertificate;

        Assert.False(BuildsChain(leaf, other.Certificate, out _));
    }

    [Fact]
    public void Leaf_Extensions_ServerAuthNotCaDigitalSignatureAkiSki()
    {
        var leaf = _ca.GetServerContext("ext.example").TargetCertificate;

        var eku = leaf.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
        Assert.Equal([ServerAuth.Value], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        var constraints = leaf.Extensions.OfType<X509BasicConstraintsExtension>().Single();
        Assert.False(constraints.CertificateAuthority);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, leaf.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);
        var aki = leaf.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().Single();
        var caSki = _ca.Certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().Single();
        Assert.Equal(caSki.SubjectKeyIdentifierBytes.ToArray(), aki.KeyIdentifier!.Value.ToArray());
        Assert.Single(leaf.Extensions.OfType<X509SubjectKeyIdentifierExtension>());
        Assert.Equal("CN=ext.example, O=HardenRunner", leaf.Subject);
        Assert.True(leaf.SerialNumberBytes.Length >= 16);
    }

    [Fact]
    public void Leaf_ValidityInsideTheCas_DefaultLifetime()
    {
        var leaf = _ca.GetServerContext("validity.example").TargetCertificate;

        Assert.True(leaf.NotBefore >= _ca.Certificate.NotBefore);
        Assert.Equal(_ca.Certificate.NotAfter, leaf.NotAfter);
    }

    [Fact]
    public void Leaf_NearTheCasEnd_ClampedToIt_AndAfterItNoLeafIsMinted()
    {
        var start = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var clock = new FixedTimeProvider(start);
        using var ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Lifetime = TimeSpan.FromHours(1), TimeProvider = clock });

        clock.Now = start.AddMinutes(2); // leaf notBefore would be start - 3 min: inside the CA's start - 5 min
        var early = ca.GetServerContext("early.example").TargetCertificate;
        clock.Now = start.AddMinutes(59);
        var late = ca.GetServerContext("late.example").TargetCertificate;

        Assert.Equal(start.AddMinutes(-5).UtcDateTime, ca.Certificate.NotBefore.ToUniversalTime());
        Assert.Equal(start.AddHours(1).UtcDateTime, ca.Certificate.NotAfter.ToUniversalTime());
        Assert.Equal(start.AddMinutes(-3).UtcDateTime, early.NotBefore.ToUniversalTime());
        Assert.Equal(start.AddMinutes(54).UtcDateTime, late.NotBefore.ToUniversalTime());
        Assert.Equal(ca.Certificate.NotAfter, late.NotAfter);

        clock.Now = start.AddHours(2);
        Assert.Contains("expired", Assert.Throws<InvalidOperationException>(() => ca.GetServerContext("too-late.example")).Message);
        Assert.Equal(2, ca.CachedNames); // the failure is not cached
    }

    [Fact]
    public void Leaf_JustAfterCaStart_NotBeforeClampedToTheCas()
    {
        var start = new DateTimeOffset(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var clock = new FixedTimeProvider(start);
        using var ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { TimeProvider = clock });

        var leaf = ca.GetServerContext("first.example").TargetCertificate;

        Assert.Equal(ca.Certificate.NotBefore, leaf.NotBefore);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("[2001:db8::10]")]
    public void Leaf_AddressLiteral_HasAnIpAddressSan(string literal)
    {
        var leaf = _ca.GetServerContext(literal).TargetCertificate;

        var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal([IPAddress.Parse(literal.Trim('[', ']'))], san.EnumerateIPAddresses());
        Assert.Empty(san.EnumerateDnsNames());
        Assert.True(leaf.MatchesHostname(literal.Trim('[', ']')));
        Assert.True(BuildsChain(leaf, _ca.Certificate, out _));
    }

    [Fact]
    public void GetServerContext_SameName_CachedContext_SpellingsShareIt()
    {
        var first = _ca.GetServerContext("cache.example");
        var second = _ca.GetServerContext("cache.example");
        var third = _ca.GetServerContext("CACHE.example.");

        Assert.Same(first, second);
        Assert.Same(first, third);
        Assert.Equal(1, _ca.MintCount);
        Assert.NotSame(first, _ca.GetServerContext("other.example"));
        Assert.Equal(2, _ca.MintCount);
    }

    [Fact]
    public void GetServerContext_FiftyConcurrentFirstRequests_MintOnce()
    {
        const int threads = 50;
        var results = new SslStreamCertificateContext[threads];
        using var barrier = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() =>
        {
            barrier.SignalAndWait(TimeSpan.FromSeconds(30));
            results[i] = _ca.GetServerContext(i % 2 == 0 ? "race.example" : "RACE.example.");
        })).ToList();

        workers.ForEach(t => t.Start());
        workers.ForEach(t => Assert.True(t.Join(TimeSpan.FromSeconds(60))));

        Assert.Equal(1, _ca.MintCount);
        Assert.All(results, r => Assert.Same(results[0], r));
    }

    [Fact]
    public void GetServerContext_BeyondCapacity_OldestDropped()
    {
        using var ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { CacheCapacity = 3 });
        var first = ca.GetServerContext("n1.example");
        foreach (var n in new[] { "n2", "n3", "n4", "n5" })
        {
            ca.GetServerContext($"{n}.example");
        }

        Assert.Equal(3, ca.CachedNames);
        Assert.Same(ca.GetServerContext("n5.example"), ca.GetServerContext("n5.example"));
        Assert.NotSame(first, ca.GetServerContext("n1.example")); // minted again
        Assert.Equal(6, ca.MintCount);
    }

    [Theory]
    [InlineData("")]
    [InlineData("*.example.com")]
    [InlineData("evil.com\0.good.com")]
    [InlineData("a..b")]
    [InlineData("x y")]
    public void GetServerContext_InvalidName_ThrowsAndMintsNothing(string name)
    {
        Assert.Throws<ArgumentException>(() => _ca.GetServerContext(name));
        Assert.Equal(0, _ca.MintCount);
        Assert.Equal(0, _ca.CachedNames);
    }

    [Fact]
    public void PrivateKeys_NotReachableThroughThePublicApi()
    {
        var pem = _ca.ExportCertificatePem();
        var context = _ca.GetServerContext("key.example");

        Assert.False(_ca.Certificate.HasPrivateKey);
        Assert.Null(_ca.Certificate.GetECDsaPrivateKey());
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", pem);
        Assert.DoesNotContain("PRIVATE", pem);
        Assert.Equal(_ca.Certificate.RawData, X509Certificate2.CreateFromPem(pem).RawData);
        Assert.All(context.IntermediateCertificates, c => Assert.False(c.HasPrivateKey));

        // the leaf carries the shared leaf key (TLS needs it), which is not the CA's
        using var leafKey = context.TargetCertificate.GetECDsaPublicKey()!;
        using var caKey = _ca.Certificate.GetECDsaPublicKey()!;
        Assert.NotEqual(caKey.ExportSubjectPublicKeyInfo(), leafKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Leaves_ShareOneLeafKey()
    {
        using var a = _ca.GetServerContext("a.example").TargetCertificate.GetECDsaPublicKey()!;
        using var b = _ca.GetServerContext("b.example").TargetCertificate.GetECDsaPublicKey()!;

        Assert.Equal(a.ExportSubjectPublicKeyInfo(), b.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Dispose_ThenGetServerContext_Throws()
    {
        var ca = EphemeralCertificateAuthority.Create();
        ca.Dispose();
        ca.Dispose();

        Assert.Throws<ObjectDisposedException>(() => ca.GetServerContext("x.example"));
    }

    [Fact]
    public async Task Handshakes_ManyConcurrentOverLoopback_ValidateAgainstTheCa()
    {
        await using var server = LoopbackTlsServer.Start(_ca);
        var names = Enumerable.Range(0, 5).Select(i => $"h{i}.example").ToArray();

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => HandshakeAsync(server.Port, names[i % names.Length])));

        Assert.All(results, Assert.True);
        Assert.Equal(names.Length, _ca.MintCount);
        Assert.Empty(server.Failures);
    }

    private async Task<bool> HandshakeAsync(int port, string name)
    {
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(client.GetStream());
        var valid = false;
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = name,
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                CustomTrustStore = { _ca.Certificate },
                RevocationMode = X509RevocationMode.NoCheck,
            },
            RemoteCertificateValidationCallback = (_, _, _, errors) => valid = errors == SslPolicyErrors.None,
        });
        await tls.WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var buffer = new byte[256];
        var n = await tls.ReadAsync(buffer);
        return valid && System.Text.Encoding.ASCII.GetString(buffer, 0, n).EndsWith("ok", StringComparison.Ordinal);
    }

    internal static bool BuildsChain(X509Certificate2 leaf, X509Certificate2 root, out int length)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(ServerAuth);
        var ok = chain.Build(leaf);
        length = chain.ChainElements.Count;
        return ok;
    }
}
