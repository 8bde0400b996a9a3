using System.Diagnostics;
using System.Net.Security;

namespace HardenRunner.Proxy.Upstream;

/// <summary>
/// An upstream connection (TCP and TLS) opened for an intercepted connection's name while the client's own TLS
/// handshake runs, so that the connection's first request does not wait for a second handshake after it arrived.
/// Only the handshake with the allowed name happens early: no byte of any request goes upstream before that request
/// passed the policy, and a request the policy denies never uses it. It is opened only when the proxy has no
/// connection to that name and port (<see cref="UpstreamDialer.StartEarly"/>). The connection's first request claims
/// it when its version fits the ALPN offered (h2 for a client that offered h2) and the client was quick enough; one
/// nobody claims is closed with the client's connection (<see cref="Release"/>).
/// </summary>
internal sealed class EarlyUpstream
{
    /// <summary>
    /// A first request later than this after the handshake gets a fresh connection instead: servers close connections
    /// that stay silent (nginx after 60 s), and the handler does not retry a request on a connection it just got.
    /// </summary>
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromSeconds(10);

    private readonly Task<SslStream> _connection;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly TimeSpan _maxAge;
    private int _state; // 0 open, 1 claimed, 2 released

    internal EarlyUpstream(string host, int port, bool offersHttp2, Task<SslStream> connection, TimeSpan? maxAge = null)
    {
        Host = host;
        Port = port;
        OffersHttp2 = offersHttp2;
        _connection = connection;
        _maxAge = maxAge ?? DefaultMaxAge;
    }

    public string Host { get; }

    public int Port { get; }

    /// <summary>True when the handshake offered h2 (then it fits an HTTP/2 request; otherwise an HTTP/1.1 one).</summary>
    public bool OffersHttp2 { get; }

    /// <summary>True when this connection is for <paramref name="host"/>:<paramref name="port"/>.</summary>
    public bool IsFor(string host, int port) => port == Port && string.Equals(host, Host, StringComparison.OrdinalIgnoreCase);

    /// <summary>The connection, once, when it is for this name, port and HTTP version and not too old; null otherwise.</summary>
    public Task<SslStream>? TryClaim(string host, int port, bool offerHttp2) =>
        IsFor(host, port) && offerHttp2 == OffersHttp2 && Stopwatch.GetElapsedTime(_started) < _maxAge
        && Interlocked.CompareExchange(ref _state, 1, 0) == 0 ? _connection : null;

    /// <summary>
    /// The claimed connection (its failure is the caller's, as if it had connected itself). When the caller gives up
    /// first, the connection is closed once it is made.
    /// </summary>
    public static async ValueTask<SslStream> AwaitClaimAsync(Task<SslStream> claimed, CancellationToken cancellationToken)
    {
        try
        {
            return await claimed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!claimed.IsCompleted)
        {
            CloseWhenMade(claimed);
            throw;
        }
    }

    /// <summary>The client's connection ended: an unclaimed connection is closed (now, or when its handshake ends).</summary>
    public void Release()
    {
        if (Interlocked.CompareExchange(ref _state, 2, 0) == 0)
        {
            CloseWhenMade(_connection);
        }
    }

    private static void CloseWhenMade(Task<SslStream> connection) =>
        _ = connection.ContinueWith(
            static t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    t.Result.Dispose();
                }
                else
                {
                    _ = t.Exception; // observed: the failure had nobody to report to
                }
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
}
