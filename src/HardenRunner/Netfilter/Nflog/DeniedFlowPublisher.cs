using System.Net;
using HardenRunner.Events;
using HardenRunner.Monitoring.Network;
using HardenRunner.Policy.Model;

namespace HardenRunner.Netfilter.Nflog;

/// <summary>
/// Turns logged packets into network events. Repeats of the same flow (same reason, protocol, addresses and ports)
/// within <see cref="DedupeWindow"/> — SYN retransmissions, UDP retries — become one event; distinct flows always
/// get their own event (when the dedupe table is full, events are published rather than suppressed). With an
/// <see cref="AttributionQueue"/>, the process and step are looked up (best effort) from the logged packet's source
/// address and port, which are the local socket's: a TCP client is still there (SYN_SENT while its SYNs are dropped,
/// or established in audit mode); a UDP sender may already have closed its socket. A packet forwarded from a
/// container or pod is looked up the same way: its socket is not in the runner's namespace, so the attributor finds
/// it in the container's (<see cref="Monitoring.ForeignNamespaceSockets"/>).
/// </summary>
public sealed class DeniedFlowPublisher
{
    /// <summary>
    /// A flow is its protocol, addresses and ports, so a distinct connection (another source port) is never merged.
    /// 5 s covers TCP's first SYN retransmissions (after 1 s and 3 s) and UDP retries; a flow that keeps trying gets
    /// an event every window.
    /// </summary>
    public static readonly TimeSpan DedupeWindow = TimeSpan.FromSeconds(5);

    private const int MaxTracked = 16384;

    private readonly IEventSink _events;
    private readonly TimeProvider _time;
    private readonly Func<uint, string?> _interfaceName;
    private readonly AttributionQueue? _attribution;
    private readonly Dictionary<(string Reason, FlowHeader Flow), long> _recent = [];
    private long _published;
    private long _duplicates;
    private long _foreign;
    private long _unparsable;

    /// <summary><paramref name="interfaceName"/> resolves an input interface index to a name (forwarded container traffic); it may return null.</summary>
    public DeniedFlowPublisher(IEventSink events, TimeProvider? time = null, Func<uint, string?>? interfaceName = null, AttributionQueue? attribution = null)
    {
        ArgumentNullException.ThrowIfNull(events);
        _events = events;
        _time = time ?? TimeProvider.System;
        _interfaceName = interfaceName ?? (_ => null);
        _attribution = attribution;
    }

    public long Published => Interlocked.Read(ref _published);

    /// <summary>Repeats of a flow within the dedupe window (not published).</summary>
    public long Duplicates => Interlocked.Read(ref _duplicates);

    /// <summary>Packets with a prefix not written by the appliance (another rule logging to the same group).</summary>
    public long Foreign => Interlocked.Read(ref _foreign);

    /// <summary>Packets whose IP header could not be read.</summary>
    public long Unparsable => Interlocked.Read(ref _unparsable);

    /// <summary>Handles one logged packet. Called from one reader thread.</summary>
    public void Handle(NflogPacket packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (!NflogPrefix.TryParse(packet.Prefix, out var reason, out var blocked))
        {
            Interlocked.Increment(ref _foreign);
            return;
        }

        if (!FlowHeader.TryParse(packet.Payload, out var flow))
        {
            Interlocked.Increment(ref _unparsable);
            return;
        }

        var now = _time.GetTimestamp();
        var key = (reason, flow);
        if (_recent.TryGetValue(key, out var last) && _time.GetElapsedTime(last, now) < DedupeWindow)
        {
            Interlocked.Increment(ref _duplicates);
            return;
        }

        Remember(key, now);
        var rule = NflogPrefix.RuleText(reason);
        if (packet.InputInterface is { } index && _interfaceName(index) is { } name)
        {
            rule += $" (forwarded from {name})";
        }

        _events.PublishAttributed(new NetworkEvent(
            _time.GetUtcNow(),
            flow.Kind,
            Host: null,
            Address: flow.Destination.ToString(),
            Port: flow.DestinationPort,
            Decision.Deny,
            blocked ? NetworkEvent.Blocked : NetworkEvent.Passed,
            rule), Attribute(flow));
        Interlocked.Increment(ref _published);
    }

    /// <summary>The lookup of the flow's local socket; null when there is none to look up (no ports, no attributor).</summary>
    private PendingAttribution? Attribute(FlowHeader flow)
    {
        if (_attribution is null || flow.SourcePort == 0 || flow.DestinationPort == 0)
        {
            return null;
        }

        var source = new IPEndPoint(flow.Source, flow.SourcePort);
        var destination = new IPEndPoint(flow.Destination, flow.DestinationPort);
        return flow.Protocol switch
        {
            FlowHeader.Tcp => _attribution.Tcp(source, destination),
            FlowHeader.Udp => _attribution.Udp(source, destination),
            _ => null,
        };
    }

    private void Remember((string, FlowHeader) key, long now)
    {
        if (_recent.Count >= MaxTracked)
        {
            List<(string, FlowHeader)>? old = null;
            foreach (var (k, t) in _recent)
            {
                if (_time.GetElapsedTime(t, now) >= DedupeWindow)
                {
                    (old ??= []).Add(k);
                }
            }

            foreach (var k in old ?? [])
            {
                _recent.Remove(k);
            }

            if (_recent.Count >= MaxTracked)
            {
                return; // a flood of distinct flows: publish every one, remember none
            }
        }

        _recent[key] = now;
    }
}
