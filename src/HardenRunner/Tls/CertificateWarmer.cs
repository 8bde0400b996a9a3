using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace HardenRunner.Tls;

/// <summary>
/// Mints the certificate of a name the DNS server has just resolved for a client, before the client's TLS connection
/// arrives (it usually follows within milliseconds): the handshake then finds the context cached instead of waiting for
/// the mint (about 1.3 ms of CPU: the signature, the key copy and the context's chain build). Names are queued by
/// <see cref="Warm"/>, which never blocks; one thread of its own mints them, for the names the proxy would intercept on
/// the HTTPS port only. Not a thread-pool loop: a mint holds its thread for about 1.5 ms, right when the pool has the
/// client's next steps to run (the AAAA answer, the accept of its connection), and on a two-core runner the pool's
/// other thread is often busy too. Bounded: at most <see cref="MaxQueued"/> names wait (more are skipped and minted at their
/// handshake, as before), and nothing is minted once the CA's cache is full, so warming never pushes out certificates
/// in use.
/// </summary>
public sealed class CertificateWarmer : IDisposable
{
    /// <summary>Names waiting to be minted at most; more are skipped.</summary>
    public const int MaxQueued = 64;

    private readonly EphemeralCertificateAuthority _ca;
    private readonly Func<string, bool> _wouldIntercept;
    private readonly BlockingCollection<string> _queue = new(new ConcurrentQueue<string>(), MaxQueued);
    private readonly Thread _thread;
    private long _minted;
    private long _skipped;
    private long _failed;

    /// <param name="ca">The CA whose cache is warmed.</param>
    /// <param name="wouldIntercept">
    /// True when the proxy would intercept a TLS connection to the name on the HTTPS port (allowed there, not a
    /// pass-through host); asked on the warmer's thread, with the policy in force then.
    /// </param>
    public CertificateWarmer(EphemeralCertificateAuthority ca, Func<string, bool> wouldIntercept)
    {
        ArgumentNullException.ThrowIfNull(ca);
        ArgumentNullException.ThrowIfNull(wouldIntercept);
        _ca = ca;
        _wouldIntercept = wouldIntercept;
        _thread = new Thread(Run) { IsBackground = true, Name = "hr-cert-warmer" };
        _thread.Start();
    }

    /// <summary>Certificates minted ahead of their handshake.</summary>
    public long Minted => Interlocked.Read(ref _minted);

    /// <summary>Names not warmed because the queue was full.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    /// <summary>Names whose warming failed unexpectedly (the policy check or the mint threw); the thread goes on.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Queues <paramref name="name"/> (a resolved DNS name); returns at once.</summary>
    public void Warm(string name)
    {
        try
        {
            if (_queue.TryAdd(name))
            {
                return;
            }
        }
        catch (InvalidOperationException)
        {
            // disposed: stopping
        }

        Interlocked.Increment(ref _skipped);
    }

    /// <summary>Stops taking names; a mint under way ends first (waited for at most 5 s: the thread is a background one).</summary>
    public void Dispose()
    {
        _queue.CompleteAdding();
        if (_thread.Join(TimeSpan.FromSeconds(5)))
        {
            _queue.Dispose();
        }
    }

    private void Run()
    {
        foreach (var name in _queue.GetConsumingEnumerable())
        {
            if (_queue.IsAddingCompleted)
            {
                return; // stopping: what is still queued would only warm a cache nobody reads any more
            }

            var before = _ca.MintCount;
            try
            {
                if (_ca.CachedNames >= _ca.CacheCapacity || !_wouldIntercept(name))
                {
                    continue;
                }

                _ = _ca.GetServerContext(name);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or CryptographicException or ObjectDisposedException)
            {
                continue; // not a name a certificate can carry (the handshake would refuse it too), or the CA is gone
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // anything else is a bug, and on a thread of its own it would end the process: the name is minted at
                // its handshake instead, where the proxy's own error handling refuses the connection if it fails again
                Interlocked.Increment(ref _failed);
                continue;
            }

            if (_ca.MintCount > before)
            {
                Interlocked.Increment(ref _minted);
            }
        }
    }
}
