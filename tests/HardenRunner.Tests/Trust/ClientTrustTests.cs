using HardenRunner.Tests.Tls;
using HardenRunner.Tls;
using HardenRunner.Trust;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Trust;

/// <summary>
/// Real clients (curl, Python's ssl, openssl verify) trust a loopback server presenting a minted leaf when they are
/// given nothing but the bundle the installer wrote, and stop trusting it once the CA is uninstalled.
/// </summary>
public sealed class ClientTrustTests(ITestOutputHelper output) : IDisposable
{
    private const string Name = "hr-probe.test";

    private const string PythonClient = """
        import socket, ssl, sys
        context = ssl.create_default_context(cafile=sys.argv[1])
        with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=20) as raw:
            with context.wrap_socket(raw, server_hostname=sys.argv[3]) as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: " + sys.argv[3].encode() + b"\r\n\r\n")
                data = b""
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
        print(data.decode().split("\r\n\r\n", 1)[1])
        """;

    private readonly EphemeralCertificateAuthority _ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = "client test" });
    private readonly string _scratch = Directory.CreateTempSubdirectory("hr-trust-clients-").FullName;

    public void Dispose()
    {
        _ca.Dispose();
        Directory.Delete(_scratch, recursive: true);
    }

    public static TheoryData<TrustStoreKind> Kinds => [TrustStoreKind.Debian, TrustStoreKind.Rhel, TrustStoreKind.Alpine];

    [SkippableTheory]
    [MemberData(nameof(Kinds))]
    public async Task Curl_Python_OpenSsl_TrustTheMintedLeaf_ThroughTheInstalledBundleOnly(TrustStoreKind kind)
    {
        Skip.IfNot(ToolRunner.Has("curl") && ToolRunner.Has("python3") && ToolRunner.Has("openssl"), "needs curl, python3 and openssl");
        using var root = FakeSystemRoot.Create(kind);
        await using var server = LoopbackTlsServer.Start(_ca);
        var original = Path.Combine(_scratch, "original.pem");
        await File.WriteAllBytesAsync(original, root.OriginalBundle);
        var leaf = Path.Combine(_scratch, "leaf.pem");
        await File.WriteAllTextAsync(leaf, _ca.GetServerContext(Name).TargetCertificate.ExportCertificatePem());

        var installation = new TrustStoreInstaller(root.State, root.Layout()).Install(_ca.Certificate);
        output.WriteLine($"{kind}: install took {installation.Elapsed.TotalMilliseconds:F1} ms");
        var bundle = root.BundleFile;
        var hashDirectory = root.Layout().HashDirectories[0];

        var curl = await CurlAsync(bundle, server.Port);
        Assert.True(curl.ExitCode == 0, curl.Error);
        Assert.Equal("ok", curl.Output);
        var python = await PythonAsync(bundle, server.Port);
        Assert.True(python.ExitCode == 0, python.Error);
        Assert.Equal("ok", python.Output.Trim());
        Assert.Equal($"{leaf}: OK", (await VerifyAsync("-CAfile", bundle, leaf)).Trim());
        Assert.Equal($"{leaf}: OK", (await VerifyAsync("-CApath", hashDirectory, leaf)).Trim());
        Assert.Contains(Name, server.ServerNames);

        // the control: the same clients with the bundle as it was refuse the server
        Assert.Equal(60, (await CurlAsync(original, server.Port)).ExitCode); // CURLE_PEER_FAILED_VERIFICATION
        Assert.Contains("CERTIFICATE_VERIFY_FAILED", (await PythonAsync(original, server.Port)).Error, StringComparison.Ordinal);

        var removal = TrustStoreInstaller.Uninstall(root.State);
        Assert.True(removal.Complete);
        Assert.Equal(60, (await CurlAsync(bundle, server.Port)).ExitCode);
        Assert.DoesNotContain(": OK", await VerifyAsync("-CAfile", bundle, leaf), StringComparison.Ordinal);
        Assert.DoesNotContain(": OK", await VerifyAsync("-CApath", hashDirectory, leaf), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Java_TrustsTheMintedLeaf_AfterTheKeystoreImport_AndTheKeystoreIsRestoredByteForByte()
    {
        var jdk = FindJdk();
        Skip.If(jdk is null, "no JDK (java, keytool and lib/security/cacerts) on this machine");
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        await using var server = LoopbackTlsServer.Start(_ca);

        // two fake JDK homes sharing one keystore, as Debian's JDKs share /etc/ssl/certs/java/cacerts
        var keystore = Path.Combine(_scratch, "java-cacerts");
        File.Copy(jdk.Value.Keystore, keystore);
        var original = await File.ReadAllBytesAsync(keystore);
        var homes = new[] { "jdk-a", "jdk-b" }.Select(h => MakeFakeJdk(Path.Combine(_scratch, h), keystore, jdk.Value.Keytool)).ToList();
        var discovered = JavaKeystore.Discover(new Dictionary<string, string?>
        {
            ["JAVA_HOME"] = homes[0],
            ["JAVA_HOME_17_X64"] = homes[1],
            ["PATH"] = "/nonexistent",
        });
        Assert.Equal([new JavaKeystore(keystore, Path.Combine(homes[0], "bin", "keytool"))], discovered);

        var installation = new TrustStoreInstaller(root.State, root.Layout(), discovered).Install(_ca.Certificate);
        output.WriteLine($"install with one Java keystore took {installation.Elapsed.TotalMilliseconds:F0} ms");

        Assert.Empty(installation.Warnings);
        Assert.Contains(keystore, installation.Changed);
        var probe = await WriteJavaProbeAsync();
        var trusted = await ToolRunner.RunAsync(
            jdk.Value.Java, $"-Djavax.net.ssl.trustStore={keystore}", "-Djavax.net.ssl.trustStorePassword=changeit", probe,
            $"https://127.0.0.1:{server.Port}/");
        Assert.True(trusted.ExitCode == 0, trusted.Error);
        Assert.Equal("ok", trusted.Output);

        Assert.True(TrustStoreInstaller.Uninstall(root.State).Complete);
        Assert.Equal(original, await File.ReadAllBytesAsync(keystore));
        var refused = await ToolRunner.RunAsync(
            jdk.Value.Java, $"-Djavax.net.ssl.trustStore={keystore}", "-Djavax.net.ssl.trustStorePassword=changeit", probe,
            $"https://127.0.0.1:{server.Port}/");
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("PKIX path building failed", refused.Error, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Java_KeystoreThatKeytoolCannotOpen_IsOnlyAWarning()
    {
        var jdk = FindJdk();
        Skip.If(jdk is null, "no JDK on this machine");
        using var root = FakeSystemRoot.Create(TrustStoreKind.Debian);
        var before = TreeSnapshot.Take(root.Root);
        var keystore = Path.Combine(_scratch, "not-a-keystore");
        await File.WriteAllTextAsync(keystore, "garbage");

        var installation = new TrustStoreInstaller(root.State, root.Layout(), [new JavaKeystore(keystore, jdk.Value.Keytool)]).Install(_ca.Certificate);

        Assert.Contains(installation.Warnings, w => w.StartsWith($"Java keystore {keystore} not changed", StringComparison.Ordinal));
        Assert.True(TrustStoreInstaller.Uninstall(root.State).Complete);
        Assert.Equal("garbage", await File.ReadAllTextAsync(keystore));
        TreeSnapshot.AssertSame(before, TreeSnapshot.Take(root.Root));
    }

    private static async Task<ToolResult> CurlAsync(string bundle, int port) =>
        await ToolRunner.RunAsync(
            "curl", "-sS", "--noproxy", "*", "--max-time", "20", "--cacert", bundle,
            "--resolve", $"{Name}:{port}:127.0.0.1", $"https://{Name}:{port}/");

    private static async Task<ToolResult> PythonAsync(string bundle, int port) =>
        await ToolRunner.RunAsync("python3", "-c", PythonClient, bundle, port.ToString(System.Globalization.CultureInfo.InvariantCulture), Name);

    private static async Task<string> VerifyAsync(string option, string location, string leaf)
    {
        string[] trust = option == "-CAfile" ? ["-no-CApath", "-no-CAstore", "-CAfile", location] : ["-no-CAfile", "-no-CAstore", "-CApath", location];
        var result = await ToolRunner.RunAsync("openssl", ["verify", .. trust, "-purpose", "sslserver", "-verify_hostname", Name, leaf]);
        return result.Output + result.Error;
    }

    private async Task<string> WriteJavaProbeAsync()
    {
        var probe = Path.Combine(_scratch, "Probe.java");
        await File.WriteAllTextAsync(probe, """
            import java.io.InputStream;
            import java.net.URI;
            import javax.net.ssl.HttpsURLConnection;

            public class Probe {
                public static void main(String[] args) throws Exception {
                    HttpsURLConnection connection = (HttpsURLConnection) new URI(args[0]).toURL().openConnection();
                    connection.setConnectTimeout(20000);
                    connection.setReadTimeout(20000);
                    try (InputStream in = connection.getInputStream()) {
                        System.out.print(new String(in.readAllBytes()));
                    }
                }
            }
            """);
        return probe;
    }

    private static string MakeFakeJdk(string home, string keystore, string keytool)
    {
        Directory.CreateDirectory(Path.Combine(home, "lib", "security"));
        Directory.CreateDirectory(Path.Combine(home, "bin"));
        File.CreateSymbolicLink(Path.Combine(home, "lib", "security", "cacerts"), keystore);
        File.CreateSymbolicLink(Path.Combine(home, "bin", "keytool"), keytool);
        return home;
    }

    private static (string Java, string Keytool, string Keystore)? FindJdk()
    {
        var java = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "java")).FirstOrDefault(File.Exists);
        if (java is null)
        {
            return null;
        }

        var home = Path.GetDirectoryName(Path.GetDirectoryName(RootedPaths.System.Resolve(java)))!;
        var keytool = Path.Combine(home, "bin", "keytool");
        var keystore = Path.Combine(home, "lib", "security", "cacerts");
        return File.Exists(keytool) && File.Exists(keystore) ? (java, keytool, keystore) : null;
    }
}
