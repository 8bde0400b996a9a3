using HardenRunner.Tls;
using HardenRunner.Trust;

namespace HardenRunner.Tests.Trust;

public sealed class CaEnvironmentTests
{
    private const string Expected =
        "NODE_EXTRA_CA_CERTS=/var/lib/harden-runner/trust/ca.pem\n"
        + "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n"
        + "REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt\n"
        + "CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt\n"
        + "GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt\n"
        + "PIP_CERT=/etc/ssl/certs/ca-certificates.crt\n"
        + "AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt\n";

    private static readonly CaEnvironment Environment = new("/var/lib/harden-runner/trust/ca.pem", "/etc/ssl/certs/ca-certificates.crt");

    [Fact]
    public void Render_NodeGetsTheCaAlone_TheOthersTheWholeBundle()
    {
        Assert.Equal(Expected, Environment.Render());
        Assert.Equal(7, Environment.Variables.Count);
    }

    [Fact]
    public void WriteGithubEnv_AppendsNameValueLines_AfterExistingContent()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "EARLIER=1"); // a step that forgot the final line feed
            Environment.WriteGithubEnv(file);
            Environment.WriteGithubEnv(file);

            Assert.Equal("EARLIER=1\n" + Expected + Expected, File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void WriteGithubEnv_CreatesTheFileWhenMissing()
    {
        var file = Path.Combine(Path.GetTempPath(), $"hr-github-env-{Guid.NewGuid():N}");
        try
        {
            Environment.WriteGithubEnv(file);

            Assert.Equal(Expected, File.ReadAllText(file));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("/tmp/a\nEVIL=1")]
    [InlineData("/tmp/a\r")]
    [InlineData("")]
    public void Create_MultiLineOrEmptyValue_Rejected(string path)
    {
        Assert.ThrowsAny<ArgumentException>(() => new CaEnvironment(path, "/etc/ssl/certs/ca-certificates.crt"));
        Assert.ThrowsAny<ArgumentException>(() => new CaEnvironment("/tmp/ca.pem", path));
    }

    [Fact]
    public void Load_FromTheStateDirectory_WhileInstalled_NullAfterwards()
    {
        using var ca = EphemeralCertificateAuthority.Create();
        using var root = FakeSystemRoot.Create(TrustStoreKind.Rhel);
        Assert.Null(CaEnvironment.Load(root.State));
        var installation = new TrustStoreInstaller(root.State, root.Layout()).Install(ca.Certificate);

        var loaded = CaEnvironment.Load(root.State);

        Assert.NotNull(loaded);
        Assert.Equal(installation.Environment.Render(), loaded.Render());
        Assert.Equal(root.Paths.Map("/etc/pki/tls/certs/ca-bundle.crt"), loaded.BundlePath);
        TrustStoreInstaller.Uninstall(root.State);
        Assert.Null(CaEnvironment.Load(root.State));
    }
}
