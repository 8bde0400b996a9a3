using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using HardenRunner.Tls;
using HardenRunner.Trust;

namespace HardenRunner.Tests.Trust;

public sealed class TrustStoreInstallerTests : IDisposable
{
    private readonly EphemeralCertificateAuthority _ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = "trust test" });

    public void Dispose() => _ca.Dispose();

    public static TheoryData<TrustStoreKind> Kinds => [TrustStoreKind.Debian, TrustStoreKind.Rhel, TrustStoreKind.Alpine];

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Detect_FindsTheLayoutByTheFilesPresent(TrustStoreKind kind)
    {
        using var root = FakeSystemRoot.Create(kind);

        var layout = root.Layout();

        Assert.Equal(kind, layout.Kind);
        Assert.Equal(
            kind == TrustStoreKind.Rhel ? root.Paths.Map("/etc/pki/tls/certs/ca-bundle.crt") : root.Paths.Map("/etc/ssl/certs/ca-certificates.crt"),
            layout.PrimaryBundle);
        Assert.Equal(
            kind == TrustStoreKind.Rhel ? root.Paths.Map("/etc/pki/ca-trust/source/anchors") : root.Paths.Map("/usr/local/share/ca-certificates"),
            layout.AnchorDirectory);
        Assert.Equal(kind switch
        {
            TrustStoreKind.Rhel => 3,
            TrustStoreKind.Alpine => 2,
            _ => 1,
        }, layout.Bundles.Count);
    }

    [Fact]
    public void Detect_EmptyRoot_Null()
    {
        var empty = Directory.CreateTempSubdirectory("hr-trust-empty-");
        try
        {
            Assert.Null(TrustStoreLayout.Detect(new RootedPaths(empty.FullName)));
        }
        finally
        {
            empty.Delete(recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Install_ThenUninstall_EveryFileByteIdentical(TrustStoreKind kind)
    {
        using var root = FakeSystemRoot.Create(kind);
        var before = TreeSnapshot.Take(root.Root);

        var installation = new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);

        // installed: the bundle holds the CA once (however many names link to it), plus anchor and hash link
        var bundle = File.ReadAllBytes(root.BundleFile);
        Assert.Equal(1, CountOccurrences(bundle, _ca.ExportCertificatePem().Split('\n')[1]));
        Assert.StartsWith(Encoding.Latin1.GetString(root.OriginalBundle), Encoding.Latin1.GetString(bundle), StringComparison.Ordinal);
        var anchor = Path.Combine(root.Layout().AnchorDirectory, $"harden-runner-{_ca.Id}.crt");
        Assert.Equal(_ca.Certificate.RawData, X509Certificate2.CreateFromPem(File.ReadAllText(anchor)).RawData);
        var hash = OpenSslSubjectHash.Compute(_ca.Certificate.SubjectName);
        foreach (var directory in root.Layout().HashDirectories)
        {
            var link = Path.Combine(directory, hash + ".0");
            Assert.Equal($"harden-runner-{_ca.Id}.pem", File.ResolveLinkTarget(link, false)!.ToString().Split('/')[^1]);
        }

        Assert.Equal(_ca.ExportCertificatePem() + "\n", File.ReadAllText(installation.CaPemPath));
        Assert.Equal(Path.Combine(root.State, "ca.pem"), installation.CaPemPath);
        Assert.Equal(root.Layout().PrimaryBundle, installation.BundlePath);
        Assert.Equal(kind, installation.Layout);
        Assert.Empty(installation.Warnings);
        Assert.Empty(TrustStoreInstaller.FindChanges(root.State));

        var removal = TrustStoreInstaller.Uninstall(root.State);

        Assert.True(removal.HadInstallation);
        Assert.True(removal.Complete);
        Assert.Empty(removal.Warnings);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
        Assert.Empty(Directory.EnumerateFileSystemEntries(root.State)); // no ca.pem, manifest or backups left
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Uninstall_Twice_SecondIsANoOp(TrustStoreKind kind)
    {
        using var root = FakeSystemRoot.Create(kind);
        var before = TreeSnapshot.Take(root.Root);
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);

        TrustStoreInstaller.Uninstall(root.State);
        var second = TrustStoreInstaller.Uninstall(root.State);

        Assert.False(second.HadInstallation);
        Assert.True(second.Complete);
        Assert.Empty(second.Restored);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Uninstall_AfterACrashMidAppend_FromTheStateDirectoryAlone(TrustStoreKind kind)
    {
        using var root = FakeSystemRoot.Create(kind);
        var before = TreeSnapshot.Take(root.Root);
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);

        // as if the process died half-way through appending to the bundle, before recording that it had finished
        var bundle = File.ReadAllBytes(root.BundleFile);
        File.WriteAllBytes(root.BundleFile, bundle[..(root.OriginalBundle.Length + 100)]);
        EditManifest(root.State, m =>
        {
            foreach (var action in m["Actions"]!.AsArray().Where(a => (string?)a!["Kind"] == "ModifiedFile"))
            {
                action!.AsObject().Remove("After");
            }
        });

        var removal = TrustStoreInstaller.Uninstall(root.State); // a new process: nothing but the path

        Assert.True(removal.Complete);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
    }

    [Fact]
    public void Uninstall_AfterACrashBeforeTheAppend_LeavesTheFileAlone()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        var before = TreeSnapshot.Take(root.Root);
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);
        File.WriteAllBytes(root.BundleFile, root.OriginalBundle);
        EditManifest(root.State, m => m["Actions"]![0]!.AsObject().Remove("After"));

        var removal = TrustStoreInstaller.Uninstall(root.State);

        Assert.True(removal.Complete);
        Assert.Empty(removal.Warnings);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
    }

    [Fact]
    public void Install_WithACaLeftByACrashedRun_RemovesItFirst()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        using var earlier = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = "earlier" });
        var before = TreeSnapshot.Take(root.Root);
        new TrustStoreInstaller(root.State, root.Layout()).Install(earlier.Certificate); // never stopped

        var installation = new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);

        Assert.Contains(installation.Warnings, w => w.Contains("earlier run", StringComparison.Ordinal));
        var bundle = File.ReadAllText(root.BundleFile);
        Assert.Contains(_ca.ExportCertificatePem(), bundle, StringComparison.Ordinal);
        Assert.DoesNotContain(earlier.ExportCertificatePem(), bundle, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(root.Layout().AnchorDirectory, $"harden-runner-{earlier.Id}.crt")));

        TrustStoreInstaller.Uninstall(root.State);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
    }

    [Theory]
    [InlineData(TrustStoreKind.Rhel)]
    [InlineData(TrustStoreKind.Alpine)]
    public void Install_BundleBehindSymbolicLinks_WritesTheTargetOnce_LinksStayLinks(TrustStoreKind kind)
    {
        using var root = FakeSystemRoot.Create(kind);
        var layout = root.Layout();

        new TrustStoreInstaller(root.State, layout).Install(_ca.Certificate);

        var pemLine = _ca.ExportCertificatePem().Split('\n')[1];
        foreach (var name in layout.Bundles)
        {
            Assert.Equal(1, CountOccurrences(File.ReadAllBytes(root.Paths.Resolve(name)), pemLine));
        }

        var links = layout.Bundles.Where(b => File.ResolveLinkTarget(b, false) is not null).ToList();
        Assert.NotEmpty(links);
        Assert.All(links, l => Assert.NotNull(new FileInfo(l).LinkTarget));
        if (kind == TrustStoreKind.Rhel)
        {
            // absolute link targets resolve inside the root, never on the host
            Assert.Equal(root.Paths.Map("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"), root.Paths.Resolve(layout.PrimaryBundle));
        }

        TrustStoreInstaller.Uninstall(root.State);
    }

    [Fact]
    public void Uninstall_BundleChangedByAStepDuringTheRun_KeepsThatChange_RemovesOnlyTheCa()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        using var corporate = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = "corporate" });
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);
        File.AppendAllText(root.BundleFile, corporate.ExportCertificatePem() + "\n");
        Assert.Equal([root.BundleFile], TrustStoreInstaller.FindChanges(root.State));

        var removal = TrustStoreInstaller.Uninstall(root.State);

        Assert.True(removal.Complete);
        Assert.Contains(removal.Warnings, w => w.Contains("changed by something else", StringComparison.Ordinal));
        Assert.Equal(
            Encoding.Latin1.GetString(root.OriginalBundle) + corporate.ExportCertificatePem() + "\n",
            Encoding.Latin1.GetString(File.ReadAllBytes(root.BundleFile)));
    }

    [Fact]
    public void Uninstall_AfterATrustStoreRebuildDuringTheRun_TreeByteIdentical()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        var before = TreeSnapshot.Take(root.Root);
        var layout = root.Layout();
        new TrustStoreInstaller(root.State, layout).Install(_ca.Certificate);

        // what update-ca-certificates does with our anchor: a new bundle (ours first, here), a <name>.pem link to the
        // anchor replacing our file, and a rehash that numbers the hash link differently
        var pem = _ca.ExportCertificatePem() + "\n";
        File.WriteAllText(root.BundleFile, pem + Encoding.Latin1.GetString(root.OriginalBundle), Encoding.Latin1);
        var certs = root.Paths.Map("/etc/ssl/certs");
        var hash = OpenSslSubjectHash.Compute(_ca.Certificate.SubjectName);
        File.Delete(Path.Combine(certs, $"harden-runner-{_ca.Id}.pem"));
        File.CreateSymbolicLink(Path.Combine(certs, $"harden-runner-{_ca.Id}.pem"), Path.Combine(layout.AnchorDirectory, $"harden-runner-{_ca.Id}.crt"));
        File.Delete(Path.Combine(certs, $"{hash}.0"));
        File.CreateSymbolicLink(Path.Combine(certs, $"{hash}.1"), $"harden-runner-{_ca.Id}.pem");
        Assert.NotEmpty(TrustStoreInstaller.FindChanges(root.State));

        var removal = TrustStoreInstaller.Uninstall(root.State);

        Assert.True(removal.Complete);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
    }

    [Fact]
    public void Uninstall_BundleDeletedDuringTheRun_RestoredFromTheBackup()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        var before = TreeSnapshot.Take(root.Root);
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);
        File.Delete(root.BundleFile);

        var removal = TrustStoreInstaller.Uninstall(root.State);

        Assert.True(removal.Complete);
        Assert.Contains(removal.Warnings, w => w.Contains("deleted during the run", StringComparison.Ordinal));
        Assert.Equal(root.OriginalBundle, File.ReadAllBytes(root.BundleFile));
        var after = TreeSnapshot.Take(root.Root);
        before.Remove("etc/ssl/certs/ca-certificates.crt"); // recreated: same bytes, the mode follows the umask
        after.Remove("etc/ssl/certs/ca-certificates.crt");
        TreeSnapshot.AssertSame(before, after);
    }

    [Fact]
    public void Install_FailingMidway_UndoesEverything_AndSaysWhy()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Alpine);
        root.WriteFile("/usr/local/share/ca-certificates", "a file where the anchors directory should be\n");
        var before = TreeSnapshot.Take(root.Root);

        var e = Assert.Throws<TrustStoreException>(() => new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate));

        Assert.Contains("Alpine", e.Message, StringComparison.Ordinal);
        Assert.Contains("everything done so far was undone", e.Message, StringComparison.Ordinal);
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
        Assert.Null(CaEnvironment.Load(root.State));
    }

    [Fact]
    public void FindChanges_ReportsRemovedLinksAndAnchors()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);
        var anchor = Path.Combine(root.Layout().AnchorDirectory, $"harden-runner-{_ca.Id}.crt");
        var link = Path.Combine(root.Paths.Map("/etc/ssl/certs"), OpenSslSubjectHash.Compute(_ca.Certificate.SubjectName) + ".0");
        File.Delete(anchor);
        File.Delete(link);

        Assert.Equal(new[] { anchor, link }.Order(StringComparer.Ordinal), TrustStoreInstaller.FindChanges(root.State).Order(StringComparer.Ordinal));

        TrustStoreInstaller.Uninstall(root.State);
        Assert.Empty(TrustStoreInstaller.FindChanges(root.State));
    }

    [Fact]
    public void StateDirectory_HoldsOnlyPublicData()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);

        foreach (var file in Directory.EnumerateFiles(root.State, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain("PRIVATE KEY", File.ReadAllText(file, Encoding.Latin1), StringComparison.Ordinal);
        }

        Assert.Equal(
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            File.GetUnixFileMode(Path.Combine(root.State, "ca.pem")));
        Assert.True(File.GetUnixFileMode(root.State).HasFlag(UnixFileMode.OtherExecute));
        TrustStoreInstaller.Uninstall(root.State);
    }

    [Fact]
    public void Install_StateDirectoryUnderAClosedParent_Warns()
    {
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        var parent = Path.GetDirectoryName(root.State)!;
        Directory.CreateDirectory(parent);
        File.SetUnixFileMode(parent, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var installation = new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);

        Assert.Contains(installation.Warnings, w => w.StartsWith($"{parent} is not searchable by other users", StringComparison.Ordinal));
        TrustStoreInstaller.Uninstall(root.State);
    }

    private static int CountOccurrences(byte[] haystack, string needle)
    {
        var text = Encoding.Latin1.GetString(haystack);
        var count = 0;
        for (var i = text.IndexOf(needle, StringComparison.Ordinal); i >= 0; i = text.IndexOf(needle, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static void EditManifest(string state, Action<JsonNode> edit)
    {
        var path = Path.Combine(state, "manifest.json");
        var node = JsonNode.Parse(File.ReadAllText(path))!;
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }
}
