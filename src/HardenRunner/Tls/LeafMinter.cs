using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Tls;

/// <summary>
/// Issues leaf certificates signed by the CA key, all carrying one shared ECDSA P-256 leaf key (key generation is the
/// expensive part of minting; a per-process leaf key is what mitmproxy does too). Leaves have a SAN (dNSName or
/// iPAddress), serverAuth EKU, basic constraints CA:false, digitalSignature, SKI and AKI, and a validity inside the
/// CA's (CertificateRequest.Create throws otherwise). Neither private key is ever exported.
/// </summary>
internal sealed class LeafMinter : IDisposable
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1", "serverAuth");

    private readonly ECDsa _caKey;
    private readonly ECDsa _leafKey;
    private readonly X509Certificate2 _ca;
    private readonly X509SignatureGenerator _signer;
    private readonly PublicKey _leafPublicKey;
    private readonly X509Extension _authorityKeyId;
    private readonly X509Extension _subjectKeyId;
    private readonly Lock _signLock = new();

    /// <param name="caKey">The CA's private key; owned (disposed) by this instance.</param>
    /// <param name="ca">The CA certificate (public part).</param>
    public LeafMinter(ECDsa caKey, X509Certificate2 ca)
    {
        _caKey = caKey;
        _ca = ca;
        _leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        _signer = X509SignatureGenerator.CreateForECDsa(_caKey);
        _leafPublicKey = new PublicKey(_leafKey);
        _authorityKeyId = X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false);
        _subjectKeyId = new X509SubjectKeyIdentifierExtension(_leafPublicKey, critical: false);
    }

    /// <summary>A leaf for <paramref name="name"/> with the shared leaf key attached, valid from now - skew until the CA expires.</summary>
    public X509Certificate2 Mint(ServerName name, DateTimeOffset now)
    {
        var subject = new X500DistinguishedNameBuilder();
        if (name.Value.Length <= 64)
        {
            subject.AddCommonName(name.Value); // ub-common-name is 64; clients match on the SAN anyway
        }

        subject.AddOrganizationName("HardenRunner");

        var request = new CertificateRequest(subject.Build(), _leafPublicKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        if (name.Address is { } address)
        {
            san.AddIpAddress(address);
        }
        else
        {
            san.AddDnsName(name.Value);
        }

        request.CertificateExtensions.Add(san.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuth], critical: false));
        request.CertificateExtensions.Add(_subjectKeyId);
        request.CertificateExtensions.Add(_authorityKeyId);

        var caNotBefore = new DateTimeOffset(_ca.NotBefore.ToUniversalTime());
        var caNotAfter = new DateTimeOffset(_ca.NotAfter.ToUniversalTime());
        var notBefore = Max(now - CertificateAuthorityOptions.ClockSkew, caNotBefore);
        var notAfter = caNotAfter;
        if (notBefore >= notAfter)
        {
            throw new InvalidOperationException($"the ephemeral CA expired at {caNotAfter:u}; no leaf can be minted");
        }

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01); // positive, 16 bytes long

        lock (_signLock)
        {
            using var unkeyed = request.Create(_ca.SubjectName, _signer, notBefore, notAfter, serial);
            return unkeyed.CopyWithPrivateKey(_leafKey);
        }
    }

    public void Dispose()
    {
        _leafKey.Dispose();
        _caKey.Dispose();
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
