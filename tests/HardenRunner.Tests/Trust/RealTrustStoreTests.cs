using System.Security.Cryptography;
using HardenRunner.Lab;
using HardenRunner.Tests.TestSupport;
using HardenRunner.Tests.Tls;
using HardenRunner.Tls;
using HardenRunner.Trust;
using Xunit.Abstractions;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.Tests.Trust;

/// <summary>
/// The real system layout at "/", inside the lab runner's private mount namespace (its /etc and /usr/local are
/// overlays that vanish with the lab): clients with their default trust (curl, Python, Java, OpenSSL's CApath) and
/// Node through NODE_EXTRA_CA_CERTS trust a minted leaf after Install; after Uninstall the store is byte-identical
/// and they refuse it again. The host's own trust store is checked to be untouched throughout.
/// </summary>
public sealed class RealTrustStoreTests(ITestOutputHelper output)
{
    private const string Name = "hr-probe.test";

    private static readonly string[] WatchedOnHost = ["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/java/cacerts"];

    [SkippableFact]
    public async Task Install_RealLayoutInTheLab_DefaultClientsTrust_Uninstall_ByteIdentical()
    {
        LabRequirement.SkipUnlessAvailable();
        Skip.IfNot(File.Exists("/etc/ssl/certs/ca-certificates.crt"), "the host has no Debian-style trust store to copy");
        Skip.IfNot(ToolRunner.Has("curl") && ToolRunner.Has("python3") && ToolRunner.Has("openssl"), "needs curl, python3 and openssl");
        var hostBefore = HostHashes();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        using var ca = EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = "real layout test" });
        using var inRunner = new NamespaceThread(lab.RunnerMountNamespacePath, lab.RunnerNetworkNamespacePath);
        var state = Path.Combine(lab.WorkDirectory, "trust-state");
        var githubEnv = Path.Combine(lab.WorkDirectory, "github_env");
        var leaf = Path.Combine(lab.WorkDirectory, "leaf.pem");
        await File.WriteAllTextAsync(leaf, ca.GetServerContext(Name).TargetCertificate.ExportCertificatePem());

        var before = await inRunner.InvokeAsync(StoreSnapshot);
        var installation = await inRunner.InvokeAsync(() =>
        {
            var layout = TrustStoreLayout.Detect() ?? throw new InvalidOperationException("no layout detected at /");
            var java = JavaKeystore.Discover(Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .Select(e => new KeyValuePair<string, string?>((string)e.Key, (string?)e.Value)));
            return new TrustStoreInstaller(state, layout, java).Install(ca.Certificate);
        });
        output.WriteLine($"install: {installation.Layout}, {installation.Elapsed.TotalMilliseconds:F0} ms, changed: {string.Join(", ", installation.Changed)}; warnings: {string.Join("; ", installation.Warnings)}");
        installation.Environment.WriteGithubEnv(githubEnv);
        await using var server = await inRunner.InvokeAsync(() => LoopbackTlsServer.Start(ca)); // listens in the runner's network namespace
        Assert.Equal(TrustStoreKind.Debian, installation.Layout);
        Assert.Equal(hostBefore, HostHashes());

        var githubEnvLines = (await File.ReadAllLinesAsync(githubEnv)).ToDictionary(l => l.Split('=')[0], l => l.Split('=', 2)[1]);
        Assert.Equal(Path.Combine(state, "ca.pem"), githubEnvLines["NODE_EXTRA_CA_CERTS"]);
        Assert.Equal("/etc/ssl/certs/ca-certificates.crt", githubEnvLines["SSL_CERT_FILE"]);
        Assert.Equal(7, githubEnvLines.Count);

        var clients = new Clients(lab, server.Port, leaf);
        Assert.Equal("ok", (await clients.CurlAsync()).StandardOutput);
        Assert.Equal("ok", (await clients.PythonAsync()).StandardOutput.Trim());
        Assert.Contains(": OK", (await clients.OpenSslCaPathAsync()).StandardOutput, StringComparison.Ordinal);
        if (ToolRunner.Has("node"))
        {
            Assert.NotEqual(0, (await clients.NodeAsync(null)).ExitCode); // Node ignores the system store
            Assert.Equal("ok", (await clients.NodeAsync(githubEnvLines["NODE_EXTRA_CA_CERTS"])).StandardOutput.Trim());
        }

        var javaInstalled = installation.Changed.Any(p => p.EndsWith("cacerts", StringComparison.Ordinal));
        if (javaInstalled)
        {
            var java = await clients.JavaAsync();
            Assert.True(java.Succeeded, java.ToString());
            Assert.Equal("ok", java.StandardOutput);
        }

        var removal = await inRunner.InvokeAsync(() => TrustStoreInstaller.Uninstall(state));

        Assert.True(removal.Complete, string.Join("; ", removal.Warnings));
        TreeSnapshot.AssertSame(before, await inRunner.InvokeAsync(StoreSnapshot));
        Assert.Equal(60, (await clients.CurlAsync()).ExitCode);
        Assert.NotEqual(0, (await clients.PythonAsync()).ExitCode);
        Assert.DoesNotContain(": OK", (await clients.OpenSslCaPathAsync()).StandardOutput, StringComparison.Ordinal);
        if (javaInstalled)
        {
            Assert.False((await clients.JavaAsync()).Succeeded);
        }

        Assert.Equal(hostBefore, HostHashes());
    }

    /// <summary>Everything the installer may touch on a Debian system (called on the namespace thread).</summary>
    private static SortedDictionary<string, string> StoreSnapshot()
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var directory in new[] { "/etc/ssl", "/usr/local/share/ca-certificates" }.Where(Directory.Exists))
        {
            foreach (var (path, value) in TreeSnapshot.Take(directory))
            {
                all[Path.Combine(directory, path)] = value;
            }
        }

        return all;
    }

    private static string HostHashes() => string.Join(
        ",", WatchedOnHost.Select(p => File.Exists(p) ? Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(p))) : "-"));

    private sealed class Clients(TestLab lab, int port, string leaf)
    {
        private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

        public Task<LabProcessResult> CurlAsync() => lab.RunInRunnerAsync(
            "curl", ["-sS", "--max-time", "20", "--resolve", $"{Name}:{port}:127.0.0.1", $"https://{Name}:{port}/"], Timeout);

        public Task<LabProcessResult> PythonAsync() => lab.RunInRunnerAsync(
            "python3",
            ["-c", $"import socket, ssl; c = ssl.create_default_context(); s = c.wrap_socket(socket.create_connection(('127.0.0.1', {port}), timeout=20), server_hostname='{Name}'); s.sendall(b'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); print(s.recv(4096).decode().split('\\r\\n\\r\\n', 1)[1])"],
            Timeout);

        public Task<LabProcessResult> OpenSslCaPathAsync() => lab.RunInRunnerAsync(
            "openssl", ["verify", "-no-CAfile", "-no-CAstore", "-CApath", "/etc/ssl/certs", "-purpose", "sslserver", "-verify_hostname", Name, leaf], Timeout);

        public Task<LabProcessResult> NodeAsync(string? extraCaCerts) => lab.RunInRunnerAsync(
            "node",
            ["-e", $"require('https').get({{ host: '127.0.0.1', port: {port}, servername: '{Name}', path: '/' }}, r => {{ let d = ''; r.on('data', c => d += c); r.on('end', () => console.log(d)); }}).on('error', e => {{ console.error(e.code || e.message); process.exit(1); }});"],
            Timeout,
            extraCaCerts is null ? null : new Dictionary<string, string> { ["NODE_EXTRA_CA_CERTS"] = extraCaCerts });

        public async Task<LabProcessResult> JavaAsync()
        {
            var probe = Path.Combine(lab.WorkDirectory, "Probe.java");
            await File.WriteAllTextAsync(probe, """
                public class Probe {
                    public static void main(String[] args) throws Exception {
                        var connection = (javax.net.ssl.HttpsURLConnection) new java.net.URI(args[0]).toURL().openConnection();
                        connection.setConnectTimeout(20000);
                        connection.setReadTimeout(20000);
                        try (var in = connection.getInputStream()) {
                            System.out.print(new String(in.readAllBytes()));
                        }
                    }
                }
                """);
            return await lab.RunInRunnerAsync("java", [probe, $"https://127.0.0.1:{port}/"], Timeout);
        }
    }
}
