using System.Net;
using System.Security.Cryptography.X509Certificates;
using HardenRunner.Lab.Contract;

namespace HardenRunner.LabInternet.Web;

/// <summary>
/// Picks the certificate for a TLS handshake. The server that owns the local address answers with its own
/// certificate when it covers the SNI (so the attacker address really presents its own cert for an allowed name);
/// otherwise any lab certificate covering the SNI is used, like a shared CDN front end (that is what makes domain
/// fronting testable); with no match, or no SNI, the owner's certificate.
/// </summary>
internal sealed class CertificateStore : IDisposable
{
    private readonly List<(LabServerConfig Server, X509Certificate2 Certificate)> _entries = [];
    private readonly ServerDirectory _servers;

    public CertificateStore(ServerDirectory servers)
    {
        _servers = servers;
        foreach (var server in servers.All)
        {
            _entries.Add((server, X509Certificate2.CreateFromPemFile(server.CertificateFile, server.KeyFile)));
        }
    }

    public X509Certificate2 Select(IPAddress? local, string? sni)
    {
        var owner = _servers.Find(local);
        var ownerEntry = _entries.FirstOrDefault(e => ReferenceEquals(e.Server, owner));
        if (string.IsNullOrEmpty(sni))
        {
            return (ownerEntry.Certificate ?? _entries[0].Certificate);
        }

        if (ownerEntry.Certificate is not null && Covers(ownerEntry.Server, sni))
        {
            return ownerEntry.Certificate;
        }

        var exact = _entries.FirstOrDefault(e => e.Server.CertificateNames.Any(n => n.Equals(sni, StringComparison.OrdinalIgnoreCase)));
        if (exact.Certificate is not null)
        {
            return exact.Certificate;
        }

        var any = _entries.FirstOrDefault(e => Covers(e.Server, sni));
        return any.Certificate ?? ownerEntry.Certificate ?? _entries[0].Certificate;
    }

    public void Dispose()
    {
        foreach (var (_, certificate) in _entries)
        {
            certificate.Dispose();
        }
    }

    private static bool Covers(LabServerConfig server, string sni)
        => server.CertificateNames.Any(name => NameMatches(name, sni));

    /// <summary>RFC 6125: a <c>*.</c> wildcard covers exactly one label.</summary>
    private static bool NameMatches(string pattern, string host)
    {
        if (!pattern.StartsWith("*.", StringComparison.Ordinal))
        {
            return pattern.Equals(host, StringComparison.OrdinalIgnoreCase);
        }

        var dot = host.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && host[(dot + 1)..].Equals(pattern[2..], StringComparison.OrdinalIgnoreCase);
    }
}
