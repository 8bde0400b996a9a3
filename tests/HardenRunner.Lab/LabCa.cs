using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Lab;

/// <summary>
/// The lab root CA (ECDSA P-256) and the server certificates it issues. Certificates carry the extensions strict
/// verifiers want (basic constraints, key usage, SKI/AKI, SAN, EKU serverAuth), so curl, Python, Node, git and .NET
/// accept them once the CA is trusted. Leaves never outlive the CA.
/// </summary>
public sealed class LabCa : IDisposable
{
    private readonly ECDsa _key;

    private LabCa(ECDsa key, X509Certificate2 certificate)
    {
        _key = key;
        Certificate = certificate;
    }

    /// <summary>The CA certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public string CertificatePem => Certificate.ExportCertificatePem();

    public static LabCa Create(string commonName = "HardenRunner Lab Root CA", TimeSpan? lifetime = null)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        try
        {
            var request = new CertificateRequest($"CN={commonName}, O=HardenRunner lab", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(
                X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            var now = DateTimeOffset.UtcNow;
            var certificate = request.CreateSelfSigned(now.AddHours(-1), now + (lifetime ?? TimeSpan.FromDays(2)));
            return new LabCa(key, certificate);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Issues a server certificate (fresh P-256 key) for DNS names (wildcards allowed) and IP addresses.</summary>
    public X509Certificate2 IssueServerCertificate(IEnumerable<string> dnsNames, IEnumerable<IPAddress>? ipAddresses = null)
    {
        ArgumentNullException.ThrowIfNull(dnsNames);
        var names = dnsNames.ToList();
        var addresses = ipAddresses?.ToList() ?? [];
        if (names.Count == 0 && addresses.Count == 0)
        {
            throw new ArgumentException("a server certificate needs at least one DNS name or IP address", nameof(dnsNames));
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subject = names.Count > 0 ? names[0] : addresses[0].ToString();
        var request = new CertificateRequest($"CN={subject}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        names.ForEach(san.AddDnsName);
        addresses.ForEach(san.AddIpAddress);
        request.CertificateExtensions.Add(san.Build(false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "serverAuth")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));

        var notBefore = Max(DateTimeOffset.UtcNow.AddMinutes(-30), Certificate.NotBefore);
        var notAfter = Min(DateTimeOffset.UtcNow.AddDays(1), Certificate.NotAfter);
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive
        using var issued = request.Create(Certificate.SubjectName, X509SignatureGenerator.CreateForECDsa(_key), notBefore, notAfter, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes the CA certificate (never its key) as PEM.</summary>
    public void WriteCertificatePem(string path) => File.WriteAllText(path, CertificatePem);

    /// <summary>Writes a certificate and its PKCS#8 private key as two PEM files (key file mode 0600).</summary>
    public static void WritePemPair(X509Certificate2 certificate, string certificatePath, string keyPath)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var key = certificate.GetECDsaPrivateKey()
            ?? throw new ArgumentException("the certificate has no ECDSA private key", nameof(certificate));
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, "");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTime b) => a > b ? a : new DateTimeOffset(b.ToUniversalTime());

    private static DateTimeOffset Min(DateTimeOffset a, DateTime b) => a < b ? a : new DateTimeOffset(b.ToUniversalTime());
}
