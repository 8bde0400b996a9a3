using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HardenRunner.Tls;

namespace HardenRunner.Tests.Tls;

public sealed class PersistentCertificateAuthorityTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("node-ca-").FullName;

    private string Dir => Path.Combine(_root, "ca");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void FirstStart_Creates_PrivateFiles_AndARestart_ReusesTheSameRoot()
    {
        var options = new CertificateAuthorityOptions { Lifetime = TimeSpan.FromDays(30) };
        string firstId;
        using (var first = PersistentCertificateAuthority.LoadOrCreate(Dir, options, out var created))
        {
            Assert.Equal(PersistentCertificateAuthority.Outcome.Created, created);
            firstId = first.Id;
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Dir));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Dir, PersistentCertificateAuthority.KeyFile)));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(Path.Combine(Dir, PersistentCertificateAuthority.KeyFile)), StringComparison.Ordinal);

        using var second = PersistentCertificateAuthority.LoadOrCreate(Dir, options, out var reused);
        Assert.Equal(PersistentCertificateAuthority.Outcome.Reused, reused);
        Assert.Equal(firstId, second.Id);
        Assert.False(second.Certificate.HasPrivateKey);

        // a leaf minted after the restart chains to the root stored on the first start
        using var stored = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(Dir, PersistentCertificateAuthority.CertificateFile)));
        var leaf = second.GetServerContext("pod.example.test").TargetCertificate;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(stored);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }

    [Fact]
    public void ARootNearItsEnd_IsRenewed_AndAnExpiredOneToo()
    {
        var clock = new FixedTimeProvider(DateTimeOffset.UtcNow);
        var options = new CertificateAuthorityOptions { Lifetime = TimeSpan.FromDays(20), TimeProvider = clock };
        string id;
        using (var ca = PersistentCertificateAuthority.LoadOrCreate(Dir, options, out _))
        {
            id = ca.Id;
        }

        clock.Now += TimeSpan.FromDays(14); // 6 of 20 days left: more than a quarter
        using (var ca = PersistentCertificateAuthority.LoadOrCreate(Dir, options, out var outcome))
        {
            Assert.Equal(PersistentCertificateAuthority.Outcome.Reused, outcome);
            Assert.Equal(id, ca.Id);
        }

        clock.Now += TimeSpan.FromDays(2); // 4 of 20 days left
        using (var ca = PersistentCertificateAuthority.LoadOrCreate(Dir, options, out var outcome))
        {
            Assert.Equal(PersistentCertificateAuthority.Outcome.Renewed, outcome);
            Assert.NotEqual(id, ca.Id);
            id = ca.Id;
        }

        clock.Now += TimeSpan.FromDays(60);
        using (var ca = PersistentCertificateAuthority.LoadOrCreate(Dir, options, out var outcome))
        {
            Assert.Equal(PersistentCertificateAuthority.Outcome.Renewed, outcome);
            Assert.NotEqual(id, ca.Id);
        }
    }

    [Fact]
    public void TheTrustBundle_IsTheSystemRootsThenTheNodeCa()
    {
        var systemBundle = Path.Combine(_root, "system.pem");
        using var other = ForeignRoot(out var otherKey);
        otherKey.Dispose();
        File.WriteAllText(systemBundle, other.ExportCertificatePem()); // no final newline on purpose
        using var ca = PersistentCertificateAuthority.LoadOrCreate(Dir, new CertificateAuthorityOptions(), out _);

        var path = PersistentCertificateAuthority.WriteTrustBundle(Dir, ca, systemBundle);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(path);
        Assert.Equal([other.Thumbprint, ca.Certificate.Thumbprint], roots.Select(c => c.Thumbprint));
        Assert.True(File.GetUnixFileMode(path).HasFlag(UnixFileMode.OtherRead));

        // no system bundle: the CA alone
        PersistentCertificateAuthority.WriteTrustBundle(Dir, ca, Path.Combine(_root, "missing.pem"));
        roots = [];
        roots.ImportFromPemFile(path);
        Assert.Equal([ca.Certificate.Thumbprint], roots.Select(c => c.Thumbprint));
    }

    [Fact]
    public void AKeyReadableByOthers_IsRefused()
    {
        using (PersistentCertificateAuthority.LoadOrCreate(Dir, new CertificateAuthorityOptions(), out _))
        {
        }

        File.SetUnixFileMode(Path.Combine(Dir, PersistentCertificateAuthority.KeyFile), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        var e = Assert.Throws<CertificateAuthorityStoreException>(() => PersistentCertificateAuthority.LoadOrCreate(Dir, new CertificateAuthorityOptions(), out _));
        Assert.Contains("readable by others", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ADirectoryWritableByOthers_IsRefused()
    {
        Directory.CreateDirectory(Dir);
        File.SetUnixFileMode(Dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute);
        Assert.Throws<CertificateAuthorityStoreException>(() => PersistentCertificateAuthority.LoadOrCreate(Dir, new CertificateAuthorityOptions(), out _));
    }

    [Theory]
    [InlineData("cert-without-key")]
    [InlineData("garbage-certificate")]
    [InlineData("garbage-key")]
    [InlineData("other-key")]
    [InlineData("foreign-root")]
    public void ADamagedOrForeignPair_IsRefused_AndLeftAlone(string damage)
    {
        using (PersistentCertificateAuthority.LoadOrCreate(Dir, new CertificateAuthorityOptions(), out _))
        {
        }

        var certPath = Path.Combine(Dir, PersistentCertificateAuthority.CertificateFile);
        var keyPath = Path.Combine(Dir, PersistentCertificateAuthority.KeyFile);
        switch (damage)
        {
            case "cert-without-key":
                File.Delete(keyPath);
                break;
            case "garbage-certificate":
                File.WriteAllText(certPath, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
                break;
            case "garbage-key":
                File.WriteAllText(keyPath, "not a key");
                break;
            case "other-key":
                using (var other = ECDsa.Create(ECCurve.NamedCurves.nistP256))
                {
                    File.WriteAllText(keyPath, other.ExportPkcs8PrivateKeyPem());
                }

                break;
            case "foreign-root":
                var cert = ForeignRoot(out var key);
                File.WriteAllText(certPath, cert.ExportCertificatePem());
                File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
                break;
        }

        var before = File.Exists(certPath) ? File.ReadAllText(certPath) : null;
        Assert.Throws<CertificateAuthorityStoreException>(() => PersistentCertificateAuthority.LoadOrCreate(Dir, new CertificateAuthorityOptions(), out _));
        Assert.Equal(before, File.Exists(certPath) ? File.ReadAllText(certPath) : null);
    }

    /// <summary>A self-signed CA that is not a HardenRunner root.</summary>
    private static X509Certificate2 ForeignRoot(out ECDsa key)
    {
        key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Some Other CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, critical: true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(10));
    }
}
