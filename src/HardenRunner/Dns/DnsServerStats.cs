namespace HardenRunner.Dns;

/// <summary>A snapshot of the DNS server's counters.</summary>
/// <param name="Packets">UDP datagrams and TCP messages received.</param>
/// <param name="Queries">Well-formed queries (each gets a decision and one event).</param>
/// <param name="Allowed">Queries for names the policy allows.</param>
/// <param name="Denied">Queries for names it denies (answered NXDOMAIN in block mode, forwarded in audit mode).</param>
/// <param name="Malformed">Packets dropped because they were not readable DNS queries.</param>
/// <param name="Rejected">Readable packets answered FORMERR/NOTIMP/REFUSED without a decision (several questions, other opcodes, zone transfers).</param>
/// <param name="UpstreamFailures">Forwarded queries answered SERVFAIL because no upstream gave a usable answer in time.</param>
/// <param name="Overloaded">UDP queries dropped because too many were in flight, and TCP connections refused for the same reason.</param>
/// <param name="SinkFailures">Answers whose addresses could not be put in the firewall's allow sets.</param>
/// <param name="EchStripped">Responses from which an <c>ech</c> SvcParam was removed.</param>
public sealed record DnsServerStats(
    long Packets,
    long Queries,
    long Allowed,
    long Denied,
    long Malformed,
    long Rejected,
    long UpstreamFailures,
    long Overloaded,
    long SinkFailures,
    long EchStripped)
{
    /// <summary>Queries answered from the response cache (each is also counted in <see cref="Queries"/> and <see cref="Allowed"/>).</summary>
    public long CacheHits { get; init; }
}

/// <summary>The live counters behind <see cref="DnsServerStats"/>.</summary>
internal sealed class DnsCounters
{
    public long Packets;
    public long Queries;
    public long Allowed;
    public long Denied;
    public long Malformed;
    public long Rejected;
    public long UpstreamFailures;
    public long Overloaded;
    public long SinkFailures;
    public long EchStripped;
    public long CacheHits;

    public DnsServerStats Snapshot() => new(
        Interlocked.Read(ref Packets),
        Interlocked.Read(ref Queries),
        Interlocked.Read(ref Allowed),
        Interlocked.Read(ref Denied),
        Interlocked.Read(ref Malformed),
        Interlocked.Read(ref Rejected),
        Interlocked.Read(ref UpstreamFailures),
        Interlocked.Read(ref Overloaded),
        Interlocked.Read(ref SinkFailures),
        Interlocked.Read(ref EchStripped))
    {
        CacheHits = Interlocked.Read(ref CacheHits),
    };
}
