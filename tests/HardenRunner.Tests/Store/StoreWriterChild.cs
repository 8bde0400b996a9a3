using System.Diagnostics;
using System.Globalization;
using HardenRunner.Store;

namespace HardenRunner.Tests.Store;

/// <summary>
/// The entry point of this test assembly when it is started as a child process (the test runner never calls it).
/// <c>dotnet HardenRunner.Tests.dll store-writer DB RUN ACKFILE SECONDS</c> opens the store, begins the run, and
/// publishes numbered events (the request path is <c>/n/NUMBER</c>) through a <see cref="StoreEventSink"/> at about
/// 10 000 a second, keeping the sink's acknowledged count in ACKFILE (19 digits and a newline, rewritten in place),
/// until it is killed or SECONDS pass.
/// </summary>
public static class StoreWriterChild
{
    public static int Main(string[] args)
    {
        if (args.Length == 5 && args[0] == "store-writer")
        {
            return RunWriter(args[1], args[2], args[3], double.Parse(args[4], CultureInfo.InvariantCulture));
        }

        Console.Error.WriteLine("usage: HardenRunner.Tests store-writer DB RUN ACKFILE SECONDS (a child process of the store tests)");
        return 2;
    }

    private static int RunWriter(string db, string runId, string ackPath, double seconds)
    {
        var store = SqliteEventStore.Open(db);
        store.BeginRunAsync(SampleEvents.Run(runId)).GetAwaiter().GetResult();
        var sink = new StoreEventSink(store, runId);
        var stdout = Console.Out;
        var stop = false;

        // the acknowledged count goes to a file, rewritten in place (fixed width): the test reads the current value
        // whenever it wants, however slowly it runs
        using var ackFile = File.OpenHandle(ackPath, FileMode.Create, FileAccess.Write);
        var reporter = new Thread(() =>
        {
            var last = -1L;
            while (!Volatile.Read(ref stop))
            {
                var ack = sink.Acknowledged;
                if (ack != last)
                {
                    RandomAccess.Write(ackFile, System.Text.Encoding.ASCII.GetBytes(ack.ToString("D19", CultureInfo.InvariantCulture) + "\n"), 0);
                    last = ack;
                }

                Thread.Sleep(5);
            }
        }) { IsBackground = true };
        reporter.Start();
        stdout.WriteLine("started");

        // paced at about 10 000 events/s: a steady stream of commits to be killed in the middle of
        var watch = Stopwatch.StartNew();
        var n = 0;
        while (watch.Elapsed.TotalSeconds < seconds)
        {
            var due = (int)(watch.ElapsedMilliseconds * 10);
            while (n < due)
            {
                sink.Publish(SampleEvents.Https(n) with { Path = "/n/" + n.ToString(CultureInfo.InvariantCulture) });
                n++;
            }

            Thread.Sleep(2);
        }

        sink.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Volatile.Write(ref stop, true);
        reporter.Join();
        stdout.WriteLine("done");
        store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }
}
