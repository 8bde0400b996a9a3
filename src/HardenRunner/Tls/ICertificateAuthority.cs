using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace HardenRunner.Tls;

/// <summary>
/// Mints the leaf certificates the proxy presents to clients for intercepted connections. Implemented by the
/// ephemeral CA (made at start, private key only in memory); the proxy only asks for a context per SNI name.
/// </summary>
public interface ICertificateAuthority
{
    /// <summary>The CA certificate (public part) that clients must trust.</summary>
    X509Certificate2 Certificate { get; }

    /// <summary>
    /// A server certificate context for <paramref name="hostName"/> (an SNI name or an address literal), cached per
    /// name; concurrent first requests for one name mint once. Thread-safe.
    /// </summary>
    SslStreamCertificateContext GetServerContext(string hostName);
}
