namespace HardenRunner.Trust;

/// <summary>What <see cref="TrustStoreInstaller.Install"/> did.</summary>
/// <param name="Layout">The distribution layout written to.</param>
/// <param name="CaPemPath">The CA certificate (public part) in the state directory.</param>
/// <param name="BundlePath">The system bundle that now holds the CA (what SSL_CERT_FILE and friends point to).</param>
/// <param name="Environment">The CA environment variables for <c>$GITHUB_ENV</c> and <c>harden-runner env</c>.</param>
/// <param name="Changed">Every path changed or created, in order.</param>
/// <param name="Warnings">Best-effort steps that failed (a Java keystore) and earlier-run recovery; never fatal.</param>
/// <param name="Elapsed">How long the installation took.</param>
public sealed record TrustInstallation(
    TrustStoreKind Layout,
    string CaPemPath,
    string BundlePath,
    CaEnvironment Environment,
    IReadOnlyList<string> Changed,
    IReadOnlyList<string> Warnings,
    TimeSpan Elapsed);

/// <summary>What <see cref="TrustStoreInstaller.Uninstall"/> did.</summary>
/// <param name="HadInstallation">False when the state directory recorded nothing to undo (a repeated stop).</param>
/// <param name="Restored">Every path restored or removed.</param>
/// <param name="Warnings">Changes made by others during the run that were kept, and undo steps that failed.</param>
/// <param name="Complete">True when nothing is left to undo; otherwise the remaining steps stay recorded for a retry.</param>
public sealed record TrustRemoval(
    bool HadInstallation,
    IReadOnlyList<string> Restored,
    IReadOnlyList<string> Warnings,
    bool Complete);
