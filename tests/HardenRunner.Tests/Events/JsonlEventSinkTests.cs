using System.Globalization;
using System.Text.Json;
using HardenRunner.Events;
using HardenRunner.Policy.Model;

namespace HardenRunner.Tests.Events;

public sealed class JsonlEventSinkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("jsonl-sink-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task EveryEventType_IsOneLineWithItsFields_AndSecretsAreRedacted()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        var time = new DateTimeOffset(2026, 11, 27, 1, 2, 3, 456, TimeSpan.FromHours(2)).AddTicks(7);
        var process = new ProcessInfo(42, "/usr/bin/curl", "curl -H 'Authorization: Bearer ghs_abcdefghijklmnopqrstuvwxyz0123456789' https://x.test/", [new AncestorInfo(41, "/bin/bash")]);
        var step = new StepInfo("build", "actions/checkout");
        await using (var sink = new JsonlEventSink(path, "run-1"))
        {
            sink.Publish(new NetworkEvent(time, "https", "x.test", "10.0.0.1", 443, Decision.Deny, NetworkEvent.Passed, "no rule", "GET", "/a?token=supersecretvalue") { Process = process, Step = step });
            sink.Publish(new DetectionEvent(time, "egress-blocked", "high", "blocked", new Dictionary<string, string> { ["host"] = "x.test" }));
            sink.Publish(new ProcessEvent(time, 7, 1, "/bin/sh", "sh -c true", time.AddSeconds(-1), 1000, 0, step));
            sink.Publish(new FileEvent(time, "/w/src/a.c", FileEvent.Modify, true) { Process = process });
        }

        var lines = await File.ReadAllLinesAsync(path);
        Assert.Equal(4, lines.Length);
        var docs = lines.Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.All(docs, d => Assert.Equal("run-1", d.GetProperty("run").GetString()));
        Assert.All(docs, d => Assert.Equal(time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture), d.GetProperty("time").GetString()));
        Assert.Equal(["network", "detection", "process", "file"], docs.Select(d => d.GetProperty("type").GetString()));

        var n = docs[0];
        Assert.Equal("https", n.GetProperty("kind").GetString());
        Assert.Equal(443, n.GetProperty("port").GetInt32());
        Assert.Equal("deny", n.GetProperty("decision").GetString());
        Assert.Equal("passed", n.GetProperty("action").GetString());
        Assert.Equal(42, n.GetProperty("process").GetProperty("pid").GetInt32());
        Assert.Equal("build", n.GetProperty("step").GetProperty("action").GetString());
        Assert.DoesNotContain("supersecretvalue", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("ghs_abcdefghijklmnopqrstuvwxyz0123456789", lines[0], StringComparison.Ordinal);
        Assert.Equal("x.test", docs[1].GetProperty("evidence").GetProperty("host").GetString());
        Assert.Equal(time.AddSeconds(-1).UtcDateTime.ToString("O", CultureInfo.InvariantCulture), docs[2].GetProperty("start").GetString());
        Assert.Equal(0, docs[2].GetProperty("euid").GetInt32());
        Assert.True(docs[3].GetProperty("tracked").GetBoolean());
    }

    [Fact]
    public async Task ManyEvents_AreAllWritten_AndAnExistingFileIsAppendedTo()
    {
        var path = Path.Combine(_dir, "events.jsonl");
        await File.WriteAllTextAsync(path, "{\"earlier\":true}\n");
        const int count = 50_000;
        await using (var sink = new JsonlEventSink(path, "run-2"))
        {
            for (var i = 0; i < count; i++)
            {
                sink.Publish(new NetworkEvent(DateTimeOffset.UnixEpoch.AddSeconds(i), "dns", $"n{i}.test", null, 53, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints"));
            }

            await sink.DisposeAsync();
            Assert.Equal(count, sink.Written);
            Assert.Equal(0, sink.Dropped);
        }

        var lines = await File.ReadAllLinesAsync(path);
        Assert.Equal(count + 1, lines.Length);
        Assert.Equal("{\"earlier\":true}", lines[0]);
        for (var i = 0; i < count; i++)
        {
            Assert.Equal($"n{i}.test", JsonDocument.Parse(lines[i + 1]).RootElement.GetProperty("host").GetString());
        }
    }
}
