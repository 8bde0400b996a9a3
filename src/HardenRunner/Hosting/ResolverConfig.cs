namespace HardenRunner.Hosting;

/// <summary>
/// Points the system resolver (/etc/resolv.conf) at the appliance for the run and restores the original, byte for
/// byte, at stop. The original is kept in the state directory so that a later start can restore it after a crash.
/// Every DNS packet to port 53 is redirected to the appliance by the firewall anyway; this file makes the intent
/// explicit, and containers that copy it get an address that works.
/// </summary>
public sealed class ResolverConfig(string resolvConfPath, string backupPath)
{
    public const string Marker = "# written by harden-runner; the original is restored at stop";

    private string LinkBackupPath => backupPath + ".link";

    public string ResolvConfPath { get; } = resolvConfPath;

    public bool HasBackup => File.Exists(backupPath) || File.Exists(LinkBackupPath);

    /// <summary>
    /// Writes a resolv.conf naming <paramref name="nameserver"/>. A symlinked resolv.conf (systemd-resolved) is
    /// replaced by a file and the link restored at stop, so the link's target is never written.
    /// </summary>
    public void Apply(string nameserver)
    {
        var info = new FileInfo(ResolvConfPath);
        if (!HasBackup)
        {
            if (info.LinkTarget is { } target)
            {
                File.WriteAllText(LinkBackupPath, target);
            }
            else
            {
                File.WriteAllBytes(backupPath, info.Exists ? File.ReadAllBytes(ResolvConfPath) : []);
            }
        }

        if (info.LinkTarget is not null)
        {
            File.Delete(ResolvConfPath);
        }

        // written in place, not renamed over: resolv.conf is often a bind mount (containers, namespaces) and a
        // rename onto a mount point fails
        File.WriteAllText(ResolvConfPath, $"{Marker}\nnameserver {nameserver}\noptions edns0 trust-ad\n");
    }

    /// <summary>Restores the original content (or symlink); a no-op when nothing was changed.</summary>
    public void Restore()
    {
        if (File.Exists(LinkBackupPath))
        {
            File.Delete(ResolvConfPath);
            File.CreateSymbolicLink(ResolvConfPath, File.ReadAllText(LinkBackupPath));
            File.Delete(LinkBackupPath);
        }
        else if (File.Exists(backupPath))
        {
            File.WriteAllBytes(ResolvConfPath, File.ReadAllBytes(backupPath));
            File.Delete(backupPath);
        }
    }
}
