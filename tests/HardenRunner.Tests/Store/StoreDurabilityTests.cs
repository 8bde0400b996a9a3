using System.Diagnostics;
using System.Globalization;
using HardenRunner.Events;
using HardenRunner.Store;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Store;

/// <summary>
/// kill -9 of a process writing through <see cref="StoreEventSink"/> loses no event it had acknowledged: a child
/// process (this assembly's <see cref="StoreWriterChild"/>) writes numbered events and keeps its acknowledged count in a file;
/// the test kills it with SIGKILL mid-stream and finds every acknowledged event in the database, which opens cleanly.
/// </summary>
[Collection(StoreLoadCollection.Name)]
public sealed class StoreDurabilityTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task KillDashNine_LosesNoAcknowledgedEvent(int round)
    {
        var db = _dir.File($"kill{round}.db");
        var ackFile = _dir.File($"kill{round}.ack");
        using var child = StartChild(db, "killed", ackFile, seconds: 40);
        long lastAck = 0;
        try
        {
            var started = await child.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (started != "started")
            {
                Assert.Fail($"the child did not start: {started} {await child.StandardError.ReadToEndAsync()}");
            }


            // let it write for a while, then kill it mid-stream, at a different moment each round
            var watch = Stopwatch.StartNew();
            var runFor = TimeSpan.FromMilliseconds(600 + (round * 400));
            while (watch.Elapsed < runFor || lastAck < 3_000)
            {
                if (child.HasExited)
                {
                    Assert.Fail($"the child ended early ({child.ExitCode}): {await child.StandardError.ReadToEndAsync()}");
                }

                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"the child acknowledged only {lastAck} events in 30 s");
                lastAck = ReadAck(ackFile) ?? lastAck;
                await Task.Delay(10);
            }

            // the freshest value just before the kill: every event it counts must survive
            lastAck = ReadAck(ackFile) ?? lastAck;
        }
        finally
        {
            child.Kill(); // SIGKILL on Linux
            await child.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
        }

        Assert.Equal(137, child.ExitCode);
        SqliteConnection.ClearAllPools();

        // the store opens (WAL recovery) and holds every acknowledged event: numbers 0..count-1, no gap, no duplicate
        await using var store = SqliteEventStore.Open(db);
        var count = await store.CountEventsAsync("killed");
        var expected = 0L;
        await foreach (var s in store.ReadEventsAsync("killed", EventKind.Network))
        {
            Assert.Equal("/n/" + expected.ToString(CultureInfo.InvariantCulture), ((NetworkEvent)s.Event).Path);
            expected++;
        }

        Assert.Equal(count, expected);
        Assert.True(count >= lastAck, $"acknowledged {lastAck} but only {count} are in the store");
        using (var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = db, Pooling = false }.ToString()))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", cmd.ExecuteScalar());
        }

        output.WriteLine($"round {round}: acknowledged {lastAck} when killed, stored {count} (committed after the last reading: {count - lastAck})");
    }

    private static long? ReadAck(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            return text.Length == 20 && text[19] == '\n' && long.TryParse(text.AsSpan(0, 19), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static Process StartChild(string db, string runId, string ackFile, int seconds)
    {
        var dll = typeof(StoreWriterChild).Assembly.Location;
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])[dll, "store-writer", db, runId, ackFile, seconds.ToString(CultureInfo.InvariantCulture)])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["DOTNET_gcServer"] = "0";
        return Process.Start(psi) ?? throw new InvalidOperationException("cannot start the writer child");
    }

    private static string DotnetHost()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        return !string.IsNullOrEmpty(hostPath) && File.Exists(hostPath) ? hostPath : "dotnet";
    }
}
