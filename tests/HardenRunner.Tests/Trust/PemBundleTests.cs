using System.Text;
using HardenRunner.Tls;
using HardenRunner.Trust;

namespace HardenRunner.Tests.Trust;

public sealed class PemBundleTests
{
    [Fact]
    public void Suffix_AddsALineFeedOnlyWhenTheBundleLacksOne()
    {
        const string pem = "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----";

        Assert.Equal(pem + "\n", Encoding.ASCII.GetString(PemBundle.Suffix("x\n"u8, pem)));
        Assert.Equal("\n" + pem + "\n", Encoding.ASCII.GetString(PemBundle.Suffix("x"u8, pem)));
        Assert.Equal(pem + "\n", Encoding.ASCII.GetString(PemBundle.Suffix([], pem + "\n")));
    }

    [Fact]
    public void Remove_TakesOutOnlyTheGivenCertificate_KeepsEveryOtherByte()
    {
        using var ours = EphemeralCertificateAuthority.Create();
        using var theirs = EphemeralCertificateAuthority.Create();
        var bundle = Encoding.Latin1.GetBytes(
            "# comment \u00e9\r\n" + theirs.ExportCertificatePem() + "\n" + ours.ExportCertificatePem() + "\n"
            + "trailing text\n" + ours.ExportCertificatePem().Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n");

        var stripped = PemBundle.Remove(bundle, ours.Certificate.RawData);

        Assert.Equal(
            "# comment \u00e9\r\n" + theirs.ExportCertificatePem() + "\n" + "trailing text\n",
            Encoding.Latin1.GetString(stripped));
        Assert.True(PemBundle.Contains(bundle, ours.Certificate.RawData));
        Assert.False(PemBundle.Contains(stripped, ours.Certificate.RawData));
        Assert.Same(stripped, PemBundle.Remove(stripped, ours.Certificate.RawData));
    }

    [Fact]
    public void Remove_IgnoresBrokenBlocks()
    {
        using var ours = EphemeralCertificateAuthority.Create();
        var bundle = Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nno end");

        Assert.Same(bundle, PemBundle.Remove(bundle, ours.Certificate.RawData));
    }
}
