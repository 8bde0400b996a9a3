using System.Security.Authentication;

namespace HardenRunner.Proxy.Connection;

/// <summary>What the peek found at the start of a connection to the HTTPS port.</summary>
internal enum ClientHelloStatus
{
    /// <summary>Not enough bytes yet; read until <see cref="ClientHelloResult.Needed"/> bytes are buffered.</summary>
    NeedMore,

    /// <summary>A complete, well-formed ClientHello (its server name may still be absent).</summary>
    Complete,

    /// <summary>The first bytes are not a TLS handshake record.</summary>
    NotTls,

    /// <summary>A TLS handshake record that is not a well-formed ClientHello (or carries an invalid server name).</summary>
    Malformed,
}

/// <summary>The parts of a ClientHello the proxy decides on. <see cref="ServerName"/> is lower-case ASCII, no trailing dot.</summary>
internal sealed record ClientHelloInfo(string? ServerName, bool OffersHttp2, bool OffersHttp11, SslProtocols Versions);

/// <summary>The peek's answer: a status, the bytes needed before asking again, and the hello or the problem.</summary>
internal readonly record struct ClientHelloResult(ClientHelloStatus Status, int Needed, ClientHelloInfo? Hello, string? Problem)
{
    public static ClientHelloResult More(int needed) => new(ClientHelloStatus.NeedMore, needed, null, null);

    public static ClientHelloResult NotTls(string problem) => new(ClientHelloStatus.NotTls, 0, null, problem);

    public static ClientHelloResult Malformed(string problem) => new(ClientHelloStatus.Malformed, 0, null, problem);

    public static ClientHelloResult Ok(ClientHelloInfo hello) => new(ClientHelloStatus.Complete, 0, hello, null);
}
