using System.Globalization;
using System.Text;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

namespace HardenRunner.Tests.Store;

/// <summary>The store's encoding: stored times sort in time order and parse back; the JSON is the event's.</summary>
public sealed class EventCodecTests
{
    public static TheoryData<string> Times => new()
    {
        "0001-01-01T00:00:00.0000000+00:00",
        "2026-11-27T04:40:35.1234567+00:00",
        "2026-11-27T06:40:35.0000001+02:00",
        "9999-12-31T23:59:59.9999999+00:00",
    };

    [Theory]
    [MemberData(nameof(Times))]
    public void FormatTime_IsTheDocumentedUtcFormat_AndParsesBack(string text)
    {
        var time = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);
        var formatted = EventCodec.FormatTime(time);
        Assert.Equal(time.UtcDateTime.ToString(EventCodec.TimeFormat, CultureInfo.InvariantCulture), formatted);
        Assert.Equal(time, EventCodec.ParseTime(formatted));
    }

    [Fact]
    public void Encode_ASharedProcess_IsWrittenTheSameForEveryEvent_AndRedacted()
    {
        var process = new ProcessInfo(42, "/usr/bin/curl", "curl -H 'Authorization: Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789' https://x.test", [new AncestorInfo(1, "/sbin/init")]);
        var first = EventCodec.Encode(new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "a.test", "192.0.2.1", 443, Decision.Allow, NetworkEvent.Passed, "r") { Process = process });
        var second = EventCodec.Encode(new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "b.test", "192.0.2.1", 443, Decision.Allow, NetworkEvent.Passed, "r") { Process = process });
        foreach (var e in new[] { first, second })
        {
            Assert.DoesNotContain("ghp_abcdefghijklmnopqrstuvwxyz0123456789", e.Data, StringComparison.Ordinal);
            Assert.Equal(e.Data, Encoding.UTF8.GetString(e.DataUtf8));
            using var doc = System.Text.Json.JsonDocument.Parse(e.DataUtf8);
            var p = doc.RootElement.GetProperty("process");
            Assert.Equal(42, p.GetProperty("pid").GetInt32());
            Assert.Equal("/sbin/init", p.GetProperty("ancestors")[0].GetProperty("exe").GetString());
        }

        Assert.Contains("\"host\":\"b.test\"", second.Data, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_WithTheProcessApart_LeavesItOutOfTheJson_AndDecodeTakesItBack()
    {
        var process = new ProcessInfo(42, "/usr/bin/curl", "curl -H 'Authorization: Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789' https://x.test", [new AncestorInfo(1, "/sbin/init")]);
        var e = new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "a.test", "192.0.2.1", 443, Decision.Allow, NetworkEvent.Passed, "r", "GET", "/") { Process = process, Step = new StepInfo("__run", null) };
        var apart = EventCodec.Encode(e, separateProcess: true);
        var whole = EventCodec.Encode(e);
        Assert.DoesNotContain("\"process\"", apart.Data, StringComparison.Ordinal);
        Assert.Null(whole.SeparateProcess);
        var stored = Assert.IsType<ProcessInfo>(apart.SeparateProcess);
        Assert.DoesNotContain("ghp_abcdefghijklmnopqrstuvwxyz0123456789", stored.Cmdline, StringComparison.Ordinal);
        Assert.Equal(Encoding.UTF8.GetString(EventCodec.ProcessJson(stored)), Encoding.UTF8.GetString(EventCodec.ProcessJson(EventCodec.DecodeProcess(Encoding.UTF8.GetString(EventCodec.ProcessJson(stored))))));

        var rebuilt = EventCodec.Decode(apart.Kind, apart.Time, apart.Data, null, EventCodec.DecodeProcess(Encoding.UTF8.GetString(EventCodec.ProcessJson(stored))));
        Assert.Equal(SampleEvents.Canonical(EventCodec.Decode(whole.Kind, whole.Time, whole.Data)), SampleEvents.Canonical(rebuilt));
        Assert.Null(Assert.IsType<NetworkEvent>(EventCodec.Decode(apart.Kind, apart.Time, apart.Data)).Process);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{\"exe\":\"/bin/sh\"}")]
    [InlineData("{\"pid\":\"seven\"}")]
    public void DecodeProcess_Malformed_IsAStoreError(string json) =>
        Assert.Throws<StoreException>(() => EventCodec.DecodeProcess(json));

    [Fact]
    public void AProcessInAPod_CarriesItsContainer_AndDecodesBack_WhileAHostProcessIsWrittenAsBefore()
    {
        var pod = new ContainerInfo("containerd", new string('a', 64), "web-7d4b9c-xk2p", "0d2d4a3e-6f1b-4c5d-9e8f-7a6b5c4d3e2f", "ci-jobs");
        var inPod = new ProcessInfo(7, "/usr/bin/curl", "curl x", [new AncestorInfo(6, "/bin/sh")]) { Container = pod };
        var encoded = EventCodec.Encode(new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "a.test", "192.0.2.1", 443, Decision.Deny, NetworkEvent.Blocked, "r") { Process = inPod });
        Assert.Contains("\"container\":{\"runtime\":\"containerd\",\"id\":\"" + pod.Id + "\",\"name\":\"web-7d4b9c-xk2p\",\"podUid\":\"" + pod.PodUid + "\",\"podNamespace\":\"ci-jobs\"}", encoded.Data, StringComparison.Ordinal);
        var decoded = Assert.IsType<NetworkEvent>(EventCodec.Decode(encoded.Kind, DateTimeOffset.UnixEpoch, encoded.Data));
        Assert.Equal(pod, decoded.Process!.Container);
        Assert.Equal("/bin/sh", decoded.Process.Ancestors[0].Exe);

        var host = new ProcessInfo(8, "/usr/bin/curl", "curl x", [new AncestorInfo(1, "/sbin/init")]);
        var plain = EventCodec.Encode(new NetworkEvent(DateTimeOffset.UnixEpoch, "https", "a.test", "192.0.2.1", 443, Decision.Allow, NetworkEvent.Passed, "r") { Process = host });
        Assert.Contains("\"process\":{\"pid\":8,\"exe\":\"/usr/bin/curl\",\"cmdline\":\"curl x\",\"ancestors\":[{\"pid\":1,\"exe\":\"/sbin/init\"}]}", plain.Data, StringComparison.Ordinal);
        Assert.Null(Assert.IsType<NetworkEvent>(EventCodec.Decode(plain.Kind, DateTimeOffset.UnixEpoch, plain.Data)).Process!.Container);
    }

    [Fact]
    public void Decode_WithACache_SharesOneProcessPerStoredProcess_AndKeepsEveryValue()
    {
        var curl = new ProcessInfo(42, "/usr/bin/curl", "curl https://x.test", [new AncestorInfo(1, "/sbin/init")]);
        var git = new ProcessInfo(43, "/usr/bin/git", "git fetch", [new AncestorInfo(1, "/sbin/init")]);
        NetworkEvent Event(string host, ProcessInfo p) => new(DateTimeOffset.UnixEpoch, "https", host, "192.0.2.1", 443, Decision.Allow, NetworkEvent.Passed, "r") { Process = p };
        var stored = new[] { Event("a.test", curl), Event("b.test", curl), Event("c.test", git) }.Select(EventCodec.Encode).ToArray();

        var cache = new DecodeCache();
        var decoded = stored.Select(e => Assert.IsType<NetworkEvent>(EventCodec.Decode(e.Kind, DateTimeOffset.UnixEpoch, e.Data, cache))).ToArray();
        Assert.Same(decoded[0].Process, decoded[1].Process);
        Assert.NotSame(decoded[0].Process, decoded[2].Process);
        Assert.Equal((42, "curl https://x.test", "b.test"), (decoded[1].Process!.Pid, decoded[1].Process!.Cmdline, decoded[1].Host));
        Assert.Equal((43, "/usr/bin/git"), (decoded[2].Process!.Pid, decoded[2].Process!.Exe));
        Assert.Equal("/sbin/init", decoded[2].Process!.Ancestors[0].Exe);

        // without a cache every event has its own (equal) process
        var plain = stored.Take(2).Select(e => Assert.IsType<NetworkEvent>(EventCodec.Decode(e.Kind, DateTimeOffset.UnixEpoch, e.Data))).ToArray();
        Assert.NotSame(plain[0].Process, plain[1].Process);
        Assert.Equal(plain[0].Process!.Cmdline, plain[1].Process!.Cmdline);
    }
}
