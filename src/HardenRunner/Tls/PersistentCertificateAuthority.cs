using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Tls;

/// <summary>
/// One CA per node that survives restarts of the appliance (a Kubernetes DaemonSet: running pods mounted the CA
/// certificate once and must keep trusting it). The root and its key live in a directory only root can read
/// (<c>ca.pem</c>, and <c>ca.key</c> as PKCS#8 PEM, mode 0600, directory 0700). At start the pair is reused while it has
/// at least a quarter of its lifetime left; otherwise (or when there is none) a new pair is made and written
/// atomically. A pair that is damaged, mismatched, not a HardenRunner root or readable by others is refused with a
/// clear error: the operator decides, the appliance does not silently swap the CA under running pods.
/// </summary>
public static class PersistentCertificateAuthority
{
    public const string CertificateFile = "ca.pem";
    public const string KeyFile = "ca.key";

    /// <summary>The system's roots followed by the node CA: what pods point SSL_CERT_FILE and friends at.</summary>
    public const string BundleFile = "bundle.pem";

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode KeyMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>What <see cref="LoadOrCreate"/> did.</summary>
    public enum Outcome
    {
        /// <summary>The stored pair was reused.</summary>
        Reused,

        /// <summary>There was no pair; one was made.</summary>
        Created,

        /// <summary>The stored pair was too close to its end (or past it) and was replaced.</summary>
        Renewed,
    }

    /// <summary>Loads the node's CA from <paramref name="directory"/>, or makes (and stores) a new one.</summary>
    /// <exception cref="CertificateAuthorityStoreException">The stored pair cannot be used as it is.</exception>
    public static EphemeralCertificateAuthority LoadOrCreate(string directory, CertificateAuthorityOptions options, out Outcome outcome)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Lifetime, TimeSpan.FromMinutes(1), nameof(options.Lifetime));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Lifetime, CertificateAuthorityOptions.MaxLifetime, nameof(options.Lifetime));
        PrepareDirectory(directory);
        var certPath = Path.Combine(directory, CertificateFile);
        var keyPath = Path.Combine(directory, KeyFile);
        var now = options.TimeProvider.GetUtcNow();

        var haveCert = File.Exists(certPath);
        var haveKey = File.Exists(keyPath);
        if (haveCert != haveKey)
        {
            throw new CertificateAuthorityStoreException(
                $"{directory} holds {(haveCert ? CertificateFile : KeyFile)} without {(haveCert ? KeyFile : CertificateFile)}; remove the directory's contents to make a new CA");
        }

        outcome = Outcome.Created;
        if (haveCert)
        {
            var (key, certificate) = Load(certPath, keyPath);
            var remaining = certificate.NotAfter.ToUniversalTime() - now.UtcDateTime;
            var lifetime = certificate.NotAfter - certificate.NotBefore;
            if (certificate.NotBefore.ToUniversalTime() <= now.UtcDateTime && remaining >= lifetime / 4)
            {
                outcome = Outcome.Reused;
                return EphemeralCertificateAuthority.Adopt(key, certificate, options);
            }

            key.Dispose();
            certificate.Dispose();
            outcome = Outcome.Renewed;
        }

        var newKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        try
        {
            var label = options.Label ?? "node " + now.ToString("yyyy-MM-dd'T'HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture);
            var root = EphemeralCertificateAuthority.CreateRootCertificate(newKey, label, now, options.Lifetime);
            WriteAtomically(keyPath, newKey.ExportPkcs8PrivateKeyPem(), KeyMode);
            WriteAtomically(certPath, root.ExportCertificatePem() + "\n", KeyMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            return EphemeralCertificateAuthority.Adopt(newKey, root, options);
        }
        catch
        {
            newKey.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes <see cref="BundleFile"/> (world-readable, atomically): the roots in <paramref name="systemBundle"/> (when
    /// it exists) and then the CA, so that a pod can replace its trust bundle with this one file.
    /// </summary>
    public static string WriteTrustBundle(string directory, EphemeralCertificateAuthority ca, string? systemBundle)
    {
        ArgumentNullException.ThrowIfNull(ca);
        var system = systemBundle is not null && File.Exists(systemBundle) ? File.ReadAllText(systemBundle) : "";
        if (system.Length > 0 && !system.EndsWith('\n'))
        {
            system += "\n";
        }

        var path = Path.Combine(directory, BundleFile);
        WriteAtomically(path, system + ca.ExportCertificatePem() + "\n", KeyMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return path;
    }

    private static void PrepareDirectory(string directory)
    {
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, DirectoryMode);
        }

        var mode = File.GetUnixFileMode(directory);
        if ((mode & (UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) != 0)
        {
            throw new CertificateAuthorityStoreException($"{directory} is writable by others ({mode}); it must be 0700");
        }
    }

    private static (ECDsa Key, X509Certificate2 Certificate) Load(string certPath, string keyPath)
    {
        var keyMode = File.GetUnixFileMode(keyPath);
        if ((keyMode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite)) != 0)
        {
            throw new CertificateAuthorityStoreException($"{keyPath} is readable by others ({keyMode}); it must be 0600");
        }

        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(File.ReadAllText(certPath));
        }
        catch (CryptographicException e)
        {
            throw new CertificateAuthorityStoreException($"{certPath} is not a PEM certificate: {e.Message}", e);
        }

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(File.ReadAllText(keyPath));
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            certificate.Dispose();
            throw new CertificateAuthorityStoreException($"{keyPath} is not a PEM ECDSA private key", e);
        }

        using var certKey = certificate.GetECDsaPublicKey();
        if (certKey is null || !EphemeralCertificateAuthority.IsHardenRunnerRoot(certificate)
            || !certKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(key.ExportSubjectPublicKeyInfo()))
        {
            key.Dispose();
            certificate.Dispose();
            throw new CertificateAuthorityStoreException(
                $"{certPath} is not a HardenRunner root made with the key in {keyPath}; remove both to make a new CA");
        }

        return (key, certificate);
    }

    private static void WriteAtomically(string path, string text, UnixFileMode mode)
    {
        var temp = path + ".tmp";
        File.Delete(temp);
        using (var stream = new FileStream(temp, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = mode,
        }))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
    }
}

/// <summary>The node CA directory holds something the appliance will not use.</summary>
public sealed class CertificateAuthorityStoreException : Exception
{
    public CertificateAuthorityStoreException(string message)
        : base(message)
    {
    }

    public CertificateAuthorityStoreException(string message, Exception inner)
        : base(message, inner)
    {
    }

    public CertificateAuthorityStoreException()
    {
    }
}
