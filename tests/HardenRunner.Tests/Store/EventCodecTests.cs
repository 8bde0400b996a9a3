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
}
