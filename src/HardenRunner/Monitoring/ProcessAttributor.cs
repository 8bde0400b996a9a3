using System.Net;
using HardenRunner.Events;
using HardenRunner.Monitoring.Containers;
using Microsoft.Extensions.Logging;

namespace HardenRunner.Monitoring;

/// <summary>The process and workflow step behind an event; either is null when unknown (never guessed).</summary>
public readonly record struct Attribution(ProcessInfo? Process, StepInfo? Step)
{
    public static Attribution Unknown => default;
}

/// <summary>
/// Answers "which process, which step" for network events. Call it while the client's socket still exists: at
/// accept time for a redirected TCP connection, while a DNS query is being answered, as soon as an NFLOG packet
/// arrives. Never throws; costs are in docs/monitoring.md.
/// </summary>
public interface IProcessAttributor
{
    /// <summary>
    /// A TCP connection: <paramref name="client"/> is the accepted socket's remote end (the client's own address and
    /// port); <paramref name="originalDestination"/> the address the client dialled (SO_ORIGINAL_DST), when known.
    /// </summary>
    Attribution AttributeTcp(IPEndPoint client, IPEndPoint? originalDestination);

    /// <summary>
    /// A UDP datagram (a DNS query): <paramref name="client"/> is its source address and port;
    /// <paramref name="destination"/> the address it was sent to (the DNS server's local end, or the original
    /// destination of a redirected query), when known — it makes the lookup exact and finds connected sockets;
    /// <paramref name="alternate"/> a second guess at it, tried before listing sockets.
    /// </summary>
    Attribution AttributeUdp(IPEndPoint client, IPEndPoint? destination = null, IPEndPoint? alternate = null);

    /// <summary>A process known by pid (a fanotify writer, a detector's subject).</summary>
    Attribution AttributePid(int pid);
}

/// <summary>Attribution from sockets (sock_diag + fd links) and the process table (ancestry, step).</summary>
internal sealed class ProcessAttributor(
    SocketOwnerResolver? owners,
    AncestryResolver ancestry,
    StepResolver steps,
    ILogger? logger) : IProcessAttributor, IDisposable
{
    private int _errorsLogged;

    public SocketOwnerResolver? Owners => owners;

    public Attribution AttributeTcp(IPEndPoint client, IPEndPoint? originalDestination) =>
        Guard(() => owners?.TcpOwner(client, originalDestination));

    public Attribution AttributeUdp(IPEndPoint client, IPEndPoint? destination = null, IPEndPoint? alternate = null) =>
        Guard(() => owners?.UdpOwner(client, destination, alternate));

    public Attribution AttributePid(int pid) => Guard(() => pid);

    /// <summary>
    /// The report's process object for <paramref name="pid"/>, or null when nothing is known of it. While a process
    /// stays as it was (executable, command line, ancestors, container), every call returns the same object: each
    /// event of a query burst or a connection then shares one <see cref="ProcessInfo"/>, and the sinks' caches keyed
    /// by that object (its redacted copy, its encoded JSON) are filled once per process instead of once per lookup.
    /// </summary>
    public ProcessInfo? Describe(int pid)
    {
        var entry = ancestry.Find(pid);
        if (entry is null)
        {
            return null;
        }

        var exe = entry.Exe ?? entry.Comm;
        var ancestors = ancestry.Ancestors(pid);
        var container = Container(entry);
        if (_described.TryGetValue(pid, out var known) && Same(known, exe, entry.Cmdline, ancestors, container))
        {
            return known;
        }

        var described = new ProcessInfo(pid, exe, entry.Cmdline, ancestors) { Container = container };
        if (_described.Count >= MaxRemembered)
        {
            _described.Clear(); // bounded like the container cache
        }

        _described[pid] = described;
        return described;
    }

    // every field compared by value: a reused pid, an exec or a re-parented ancestor gives a new object
    private static bool Same(ProcessInfo known, string? exe, string? cmdline, List<AncestorInfo> ancestors, ContainerInfo? container) =>
        known.Exe == exe
        && known.Cmdline == cmdline
        && Equals(known.Container, container)
        && known.Ancestors.SequenceEqual(ancestors);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, ProcessInfo> _described = new();

    /// <summary>
    /// The container of a table entry, read once per process (pid and start time; an exit or an exec replaces the
    /// entry but keeps both): one small cgroup read for a host process, the hostname and namespace reads only inside
    /// a container. A process first asked about after it exited is not read (its pid may belong to another by now).
    /// </summary>
    private ContainerInfo? Container(ProcessEntry entry)
    {
        var key = (entry.Pid, entry.Start);
        if (_containers.TryGetValue(key, out var known))
        {
            return known;
        }

        if (entry.Exited is not null)
        {
            return null;
        }

        if (_containers.Count >= MaxRemembered)
        {
            _containers.Clear(); // bounded: a long service run forgets and re-reads
        }

        return _containers.GetOrAdd(key, ContainerReader.Read(entry.Pid));
    }

    private const int MaxRemembered = 65_536;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(int Pid, DateTimeOffset Start), ContainerInfo?> _containers = new();

    public StepInfo? Step(int pid) => steps.Resolve(pid);

    public void Dispose() => owners?.Dispose();

    private Attribution Guard(Func<int?> find)
    {
        try
        {
            var pid = find();
            if (pid is not > 0)
            {
                return Attribution.Unknown;
            }

            var process = Describe(pid.Value);
            return process is null ? Attribution.Unknown : new Attribution(process, steps.Resolve(pid.Value));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (Interlocked.Increment(ref _errorsLogged) <= 5)
            {
                logger?.LogWarning(e, "process attribution failed; the event stays unattributed");
            }

            return Attribution.Unknown;
        }
    }
}
