using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HardenRunner.Tls;

namespace HardenRunner.Tests.Proxy;

/// <summary>
/// A small in-memory CA for tests: the proxy's stand-in ephemeral CA (it implements <see cref="ICertificateAuthority"/>)
/// and the upstream servers' own CA. ECDSA P-256, leaves clamped to the CA's validity.
/// </summary>
internal sealed class TestCa : ICertificateAuthority, IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ConcurrentDictionary<string, Lazy<SslStreamCertificateContext>> _contexts = new(StringComparer.OrdinalIgnoreCase);
    private long _serial = 1;

    public TestCa(string commonName)
    {
        var request = new CertificateRequest($"CN={commonName}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        Certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(2));
    }

    public X509Certificate2 Certificate { get; }

    public int Minted => _contexts.Count;

    public SslStreamCertificateContext GetServerContext(string hostName) =>
        _contexts.GetOrAdd(hostName, name => new Lazy<SslStreamCertificateContext>(() =>
            SslStreamCertificateContext.Create(Issue(name), [Certificate], offline: true))).Value;

    /// <summary>A server leaf (with its private key) for the given DNS names or address literals.</summary>
    public X509Certificate2 Issue(params string[] names)
    {
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={names[0]}", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var n in names)
        {
            if (IPAddress.TryParse(n, out var ip))
            {
                san.AddIpAddress(ip);
            }
            else
            {
                san.AddDnsName(n);
            }
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        var serial = BitConverter.GetBytes(Interlocked.Increment(ref _serial));
        using var leaf = request.Create(Certificate, Certificate.NotBefore.AddMinutes(1), Certificate.NotAfter.AddMinutes(-1), serial);
        return leaf.CopyWithPrivateKey(leafKey);
    }

    /// <summary>A client-side validation callback trusting only this CA, with the normal host-name check.</summary>
    public RemoteCertificateValidationCallback Trust() => (_, certificate, chain, errors) =>
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is not X509Certificate2 leaf)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.Add(Certificate);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        return custom.Build(leaf);
    };

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}
