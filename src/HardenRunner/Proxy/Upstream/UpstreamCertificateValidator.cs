using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// Verifies upstream certificates: the platform's normal validation (system roots, the host name) and, when that fails
/// only because the chain ends at an unknown root, a second chain build that trusts the extra roots
/// (<c>--upstream-ca</c>). A name mismatch or a missing certificate is never accepted.
/// </summary>
internal sealed class UpstreamCertificateValidator(X509Certificate2Collection extraRoots)
{
    private static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");

    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || extraRoots.Count == 0 || certificate is not X509Certificate2 leaf)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(extraRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        custom.ChainPolicy.ApplicationPolicy.Add(ServerAuth);
        if (chain is not null)
        {
            // the intermediates the server sent
            custom.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        return custom.Build(leaf);
    }
}
