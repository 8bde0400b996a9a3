using System.Globalization;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Tls;

/// <summary>
/// The ephemeral CA (DESIGN §2, Trust/Proxy): an ECDSA P-256 root made at start whose private key lives only in
/// this object's memory (it is never exported, written or logged), valid from 5 minutes ago for a short lifetime.
/// It mints one leaf per server name with a shared leaf key and caches the <see cref="SslStreamCertificateContext"/>
/// per normalised name; concurrent first requests for one name mint once.
/// </summary>
public sealed class EphemeralCertificateAuthority : ICertificateAuthority, IDisposable
{
    private const string SubjectPrefix = "HardenRunner Ephemeral CA ";

    private readonly LeafMinter _minter;
    private readonly ServerContextCache<SslStreamCertificateContext> _cache;
    private readonly TimeProvider _time;
    private readonly X509Certificate2Collection _chain;
    private long _minted;
    private volatile bool _disposed;

    private EphemeralCertificateAuthority(ECDsa caKey, X509Certificate2 certificate, CertificateAuthorityOptions options)
    {
        Certificate = certificate;
        _time = options.TimeProvider;
        _chain = [certificate];
        _cache = new ServerContextCache<SslStreamCertificateContext>(options.CacheCapacity);
        CacheCapacity = options.CacheCapacity;
        _minter = new LeafMinter(caKey, certificate);
        Id = Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256))[..16];
    }

    /// <summary>The CA certificate, public part only (it carries no private key). Do not dispose it.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>A short id of this CA (16 hex digits of its SHA-256 fingerprint), for file names and keystore aliases.</summary>
    public string Id { get; }

    /// <summary>How many leaves were minted (a cache hit mints nothing).</summary>
    public long MintCount => Interlocked.Read(ref _minted);

    /// <summary>How many names keep a cached context at most.</summary>
    public int CacheCapacity { get; }

    /// <summary>How many names have a cached context.</summary>
    public int CachedNames => _cache.Count;

    /// <summary>Makes a new CA. Its key is generated here and kept in memory only.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A lifetime or capacity out of range.</exception>
    /// <exception cref="ArgumentException">A label with characters other than letters, digits, '-', '_', '.', ':' and spaces.</exception>
    public static EphemeralCertificateAuthority Create(CertificateAuthorityOptions? options = null)
    {
        options ??= new CertificateAuthorityOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Lifetime, TimeSpan.FromMinutes(1), nameof(options.Lifetime));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Lifetime, CertificateAuthorityOptions.MaxLifetime, nameof(options.Lifetime));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.CacheCapacity, 1, nameof(options.CacheCapacity));

        var now = options.TimeProvider.GetUtcNow();
        var label = options.Label ?? now.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        ValidateLabel(label);

        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        try
        {
            return new EphemeralCertificateAuthority(key, CreateRootCertificate(key, label, now, options.Lifetime), options);
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes over an existing root and its key (see <see cref="PersistentCertificateAuthority"/>, for a node whose
    /// running pods must keep trusting one CA across restarts). The key is owned by the result from then on.
    /// </summary>
    internal static EphemeralCertificateAuthority Adopt(ECDsa key, X509Certificate2 certificate, CertificateAuthorityOptions options) =>
        new(key, certificate, options);

    /// <summary>A self-signed CA certificate for <paramref name="key"/>; the returned object carries no private key.</summary>
    internal static X509Certificate2 CreateRootCertificate(ECDsa key, string label, DateTimeOffset now, TimeSpan lifetime)
    {
        ValidateLabel(label);
        var subject = new X500DistinguishedNameBuilder();
        subject.AddCommonName(SubjectPrefix + label);
        subject.AddOrganizationName("HardenRunner");
        var request = new CertificateRequest(subject.Build(), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        var ski = new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false);
        request.CertificateExtensions.Add(ski);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski));

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x01);

        // signed through a generator so the certificate object never holds the private key
        return request.Create(
            request.SubjectName, X509SignatureGenerator.CreateForECDsa(key),
            now - CertificateAuthorityOptions.ClockSkew, now + lifetime, serial);
    }

    /// <summary>True when <paramref name="certificate"/> is a root this class made (by its subject).</summary>
    internal static bool IsHardenRunnerRoot(X509Certificate2 certificate) =>
        certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false).StartsWith(SubjectPrefix, StringComparison.Ordinal)
        && certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData);

    /// <inheritdoc />
    /// <exception cref="ArgumentException"><paramref name="hostName"/> is not a valid DNS name or address literal (see <see cref="ServerName"/>).</exception>
    /// <exception cref="InvalidOperationException">The CA has expired.</exception>
    public SslStreamCertificateContext GetServerContext(string hostName)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // fast path: cache keys are normalised names, so an input equal to one is valid and needs no parsing
        if (hostName is not null && _cache.TryGet(hostName, out var cached))
        {
            return cached;
        }

        var name = ServerName.Parse(hostName);
        return _cache.GetOrCreate(name.Value, _ => CreateContext(name));
    }

    /// <summary>The CA certificate as PEM (public part; there is no way to export the key).</summary>
    public string ExportCertificatePem() => Certificate.ExportCertificatePem();

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _minter.Dispose();
    }

    private SslStreamCertificateContext CreateContext(ServerName name)
    {
        var leaf = _minter.Mint(name, _time.GetUtcNow());
        Interlocked.Increment(ref _minted);
        return SslStreamCertificateContext.Create(leaf, _chain, offline: true);
    }

    private static void ValidateLabel(string label)
    {
        if (label.Length is 0 or > 38 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or ' '))
        {
            throw new ArgumentException(
                "the CA label must be 1 to 38 letters, digits, '-', '_', '.', ':' or spaces", nameof(label));
        }
    }
}
