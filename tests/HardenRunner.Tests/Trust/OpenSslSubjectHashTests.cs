using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using HardenRunner.Trust;

namespace HardenRunner.Tests.Trust;

/// <summary>Our subject hash against <c>openssl x509 -hash</c>, the definition CApath lookups use.</summary>
public sealed class OpenSslSubjectHashTests
{
    private static bool HasOpenSsl => ToolRunner.Has("openssl");

    [SkippableTheory]
    [InlineData("CN=HardenRunner Ephemeral CA 2030-01-01T00:00:00Z, O=HardenRunner")]
    [InlineData("CN=  Mixed   CASE\tname  , O=Acme Inc., C=DE")]
    [InlineData("CN=Bücher Überall, O=Ümlaut GmbH")]
    [InlineData("CN=a + O=b, C=US")]
    [InlineData("E=Admin@Example.COM, CN=x")]
    [InlineData("")]
    public async Task Compute_MatchesOpenSsl_ForCraftedNames(string subject)
    {
        Skip.IfNot(HasOpenSsl, "openssl is not installed");
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(subject), key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));

        Assert.Equal(await OpenSslHashAsync(certificate), OpenSslSubjectHash.Compute(certificate.SubjectName));
    }

    [SkippableFact]
    public async Task Compute_MatchesOpenSsl_ForTheHostsRoots()
    {
        Skip.IfNot(HasOpenSsl, "openssl is not installed");
        Skip.IfNot(File.Exists(FakeSystemRoot.HostBundle), "no system CA bundle to compare with");
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(FakeSystemRoot.HostBundle);
        Assert.NotEmpty(roots);

        // the hashed links the distribution made are named by OpenSSL's hash: every root must have one
        var links = Directory.EnumerateFileSystemEntries("/etc/ssl/certs", "*.?").Select(Path.GetFileName).ToHashSet();
        var missing = roots.Select(r => OpenSslSubjectHash.Compute(r.SubjectName))
            .Where(h => !links.Contains(h + ".0"))
            .ToList();
        Assert.Empty(missing);

        foreach (var root in roots.Take(10))
        {
            Assert.Equal(await OpenSslHashAsync(root), OpenSslSubjectHash.Compute(root.SubjectName));
        }
    }

    private static async Task<string> OpenSslHashAsync(X509Certificate2 certificate)
    {
        var file = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(file, certificate.ExportCertificatePem());
            var result = await ToolRunner.RunAsync("openssl", "x509", "-hash", "-noout", "-in", file);
            Assert.Equal(0, result.ExitCode);
            return result.Output.Trim();
        }
        finally
        {
            File.Delete(file);
        }
    }
}
