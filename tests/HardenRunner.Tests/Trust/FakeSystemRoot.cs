using HardenRunner.Trust;

namespace HardenRunner.Tests.Trust;

/// <summary>
/// A temporary directory laid out like a distribution's trust store, with the host's real CA bundle (read, never
/// written) as its content, plus a separate state directory. Deleted on dispose.
/// </summary>
internal sealed class FakeSystemRoot : IDisposable
{
    public const string HostBundle = "/etc/ssl/certs/ca-certificates.crt";

    private FakeSystemRoot(TrustStoreKind kind)
    {
        Kind = kind;
        Base = Directory.CreateTempSubdirectory("hr-trust-").FullName;
        File.SetUnixFileMode(Base, (UnixFileMode)0b111_101_101); // 0755 like a real state directory's parents
        Root = Path.Combine(Base, "root");
        State = Path.Combine(Base, "state", "trust");
        Directory.CreateDirectory(Root);
        Paths = new RootedPaths(Root);
    }

    public TrustStoreKind Kind { get; }

    public string Base { get; }

    public string Root { get; }

    public string State { get; }

    public RootedPaths Paths { get; }

    /// <summary>The bundle's original bytes.</summary>
    public byte[] OriginalBundle { get; private set; } = [];

    public static FakeSystemRoot Create(TrustStoreKind kind)
    {
        var root = new FakeSystemRoot(kind);
        var bundle = File.Exists(HostBundle) ? File.ReadAllBytes(HostBundle) : SyntheticBundle();
        switch (kind)
        {
            case TrustStoreKind.Debian:
                root.WriteFile("/etc/debian_version", "12.9\n");
                root.WriteFile("/etc/ssl/certs/ca-certificates.crt", bundle);
                root.Link("/etc/ssl/certs/ISRG_Root_X1.pem", "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt"); // dangling here, as in a chroot
                root.Link("/etc/ssl/certs/4042bcee.0", "ISRG_Root_X1.pem");
                root.WriteFile("/usr/local/share/ca-certificates/corp.crt", "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n");
                root.OriginalBundle = bundle;
                break;
            case TrustStoreKind.Rhel:
                // RHEL's extracted bundle has no final line feed here, to exercise the separator
                var trimmed = bundle.AsSpan().TrimEnd((byte)'\n').ToArray();
                root.WriteFile("/etc/redhat-release", "Red Hat Enterprise Linux release 9.4 (Plow)\n");
                root.WriteFile("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", trimmed);
                root.WriteFile("/etc/pki/ca-trust/extracted/pem/email-ca-bundle.pem", trimmed);
                root.Link("/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
                root.Link("/etc/pki/tls/cert.pem", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
                root.WriteFile("/etc/pki/ca-trust/extracted/pem/directory-hash/ISRG_Root_X1.pem", "x\n");
                root.Link("/etc/pki/ca-trust/extracted/pem/directory-hash/4042bcee.0", "ISRG_Root_X1.pem");
                Directory.CreateDirectory(root.Paths.Map("/etc/pki/ca-trust/source/anchors"));
                root.OriginalBundle = trimmed;
                break;
            case TrustStoreKind.Alpine:
                root.WriteFile("/etc/alpine-release", "3.20.3\n");
                root.WriteFile("/etc/ssl/certs/ca-certificates.crt", bundle);
                root.Link("/etc/ssl/cert.pem", "certs/ca-certificates.crt");
                Directory.CreateDirectory(root.Paths.Map("/usr/local")); // no share/ca-certificates: created and removed
                root.OriginalBundle = bundle;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }

        return root;
    }

    public TrustStoreLayout Layout() =>
        TrustStoreLayout.Detect(Paths) ?? throw new InvalidOperationException("layout not detected");

    /// <summary>The real bundle file (the target of the well-known, possibly linked, name).</summary>
    public string BundleFile => Paths.Resolve(Layout().PrimaryBundle);

    public void WriteFile(string systemPath, string content) => WriteFile(systemPath, System.Text.Encoding.ASCII.GetBytes(content));

    public void WriteFile(string systemPath, byte[] content)
    {
        var path = Paths.Map(systemPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
    }

    public void Link(string systemPath, string target)
    {
        var path = Paths.Map(systemPath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.CreateSymbolicLink(path, target);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Base, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static byte[] SyntheticBundle()
    {
        using var a = HardenRunner.Tls.EphemeralCertificateAuthority.Create(new() { Label = "synthetic a" });
        using var b = HardenRunner.Tls.EphemeralCertificateAuthority.Create(new() { Label = "synthetic b" });
        return System.Text.Encoding.ASCII.GetBytes(a.ExportCertificatePem() + "\n" + b.ExportCertificatePem() + "\n");
    }
}
