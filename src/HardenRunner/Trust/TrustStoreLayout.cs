namespace HardenRunner.Trust;

public enum TrustStoreKind
{
    /// <summary>Debian and Ubuntu (and other distributions with the same OpenSSL-style layout).</summary>
    Debian,

    /// <summary>RHEL, Fedora, CentOS, Rocky, Alma, Amazon Linux (p11-kit ca-trust).</summary>
    Rhel,

    /// <summary>Alpine.</summary>
    Alpine,
}

/// <summary>
/// Where a distribution keeps its trust store (certs/trust-stores.md has the table). All paths are under
/// <see cref="Paths"/>' root; bundle paths are the well-known names (often symbolic links), resolved when written.
/// </summary>
public sealed record TrustStoreLayout
{
    public required TrustStoreKind Kind { get; init; }

    public required RootedPaths Paths { get; init; }

    /// <summary>The bundle that tools read by default; the CA environment variables point here.</summary>
    public required string PrimaryBundle { get; init; }

    /// <summary>Every PEM bundle the CA is appended to (including <see cref="PrimaryBundle"/>); links among them are written once.</summary>
    public required IReadOnlyList<string> Bundles { get; init; }

    /// <summary>The directory of local anchors that the distribution's rebuild tool reads (so a rebuild during the job keeps the CA).</summary>
    public required string AnchorDirectory { get; init; }

    /// <summary>Hashed-certificate directories (OpenSSL CApath) that get a <c>&lt;hash&gt;.N</c> link.</summary>
    public required IReadOnlyList<string> HashDirectories { get; init; }

    /// <summary>The file name of the anchor (Debian's update-ca-certificates only reads <c>*.crt</c>).</summary>
    public string AnchorFileName(string id) => $"harden-runner-{id}.crt";

    /// <summary>
    /// Finds the layout by the files present under <paramref name="paths"/>' root, or null when none is known:
    /// Alpine (<c>/etc/alpine-release</c> and the OpenSSL bundle), Debian/Ubuntu (<c>/etc/ssl/certs/ca-certificates.crt</c>
    /// with <c>/etc/debian_version</c> or <c>/usr/local/share/ca-certificates</c>), RHEL/Fedora
    /// (<c>/etc/pki/tls/certs/ca-bundle.crt</c> or the extracted <c>tls-ca-bundle.pem</c>), and last any system with
    /// the OpenSSL bundle, treated like Debian.
    /// </summary>
    public static TrustStoreLayout? Detect(RootedPaths? paths = null)
    {
        paths ??= RootedPaths.System;
        bool Has(string p) => File.Exists(paths.Map(p)) || Directory.Exists(paths.Map(p));

        const string sslBundle = "/etc/ssl/certs/ca-certificates.crt";
        if (Has(sslBundle) && Has("/etc/alpine-release"))
        {
            return OpenSslStyle(TrustStoreKind.Alpine, paths);
        }

        if (Has(sslBundle) && (Has("/etc/debian_version") || Has("/usr/local/share/ca-certificates")))
        {
            return OpenSslStyle(TrustStoreKind.Debian, paths);
        }

        if (Has("/etc/pki/tls/certs/ca-bundle.crt") || Has("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"))
        {
            return Rhel(paths);
        }

        return Has(sslBundle) ? OpenSslStyle(TrustStoreKind.Debian, paths) : null;
    }

    private static TrustStoreLayout OpenSslStyle(TrustStoreKind kind, RootedPaths paths) => new()
    {
        Kind = kind,
        Paths = paths,
        PrimaryBundle = paths.Map("/etc/ssl/certs/ca-certificates.crt"),
        Bundles = Existing(paths, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"),
        AnchorDirectory = paths.Map("/usr/local/share/ca-certificates"),
        HashDirectories = [paths.Map("/etc/ssl/certs")],
    };

    private static TrustStoreLayout Rhel(RootedPaths paths)
    {
        var bundles = Existing(
            paths,
            "/etc/pki/tls/certs/ca-bundle.crt",
            "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            "/etc/pki/tls/cert.pem");
        var hashDirectory = paths.Map("/etc/pki/ca-trust/extracted/pem/directory-hash");
        return new TrustStoreLayout
        {
            Kind = TrustStoreKind.Rhel,
            Paths = paths,
            PrimaryBundle = bundles[0],
            Bundles = bundles,
            AnchorDirectory = paths.Map("/etc/pki/ca-trust/source/anchors"),
            HashDirectories = Directory.Exists(hashDirectory) ? [hashDirectory] : [],
        };
    }

    private static List<string> Existing(RootedPaths paths, params string[] systemPaths) =>
        [.. systemPaths.Select(paths.Map).Where(File.Exists)];
}
