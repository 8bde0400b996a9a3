using System.Diagnostics;
using System.Globalization;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Store;
using HardenRunner.Store.Fleet;
using HardenRunner.Store.Postgres;
using HardenRunner.Tests.Store;
using Npgsql;

// Sustained ingest into PostgreSQL (docs/performance.md). Starts a private server (durable: fsync on, PostgreSQL's
// defaults), then N writers, each an appliance of its own (its own store, connection pool and run), append batches
// of attributed HTTPS events for D seconds. Bounded in time; the server and its directory are removed at the end.
//   direct  each writer appends to PostgresEventStore (what a fleet database sustains)
//   fleet   each writer appends to a FleetEventStore (local durable SQLite + shipper), measured until all is shipped
//   stop    what the appliance's stop does after a run of N events, on a local SQLite store (StopBench.cs)
// usage: HardenRunner.StoreBench [direct|fleet] [--writers N] [--seconds S] [--batch B] | stop [--events N]
var mode = args.Length > 0 && !args[0].StartsWith('-') ? args[0] : "direct";
int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, "--" + name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

if (mode == "stop")
{
    var n = Arg("events", 1_000_000);
    if (n is < 1 or > 20_000_000)
    {
        Console.Error.WriteLine("usage: HardenRunner.StoreBench stop [--events N (1..20000000)]");
        return 2;
    }

    return await StopBench.RunAsync(n);
}

var writers = Arg("writers", 4);
var seconds = Arg("seconds", 20);
var batch = Arg("batch", 500);
if (mode is not ("direct" or "fleet") || writers < 1 || seconds < 1 || seconds > 600 || batch < 1)
{
    Console.Error.WriteLine("usage: HardenRunner.StoreBench [direct|fleet] [--writers N] [--seconds S (1..600)] [--batch B]");
    return 2;
}

await using var server = await PostgresServer.StartAsync(durable: true);
var db = await server.CreateDatabaseAsync();
var uri = PostgresStoreUri.Parse(server.UriText(db));
Console.WriteLine($"store bench: {mode}, {writers} writer(s), {seconds} s, batches of {batch}; PostgreSQL {server.Port} durable (fsync on), {Environment.ProcessorCount} cores");

var dirs = new List<string>();
var stores = new List<IEventStore>();
for (var w = 0; w < writers; w++)
{
    if (mode == "direct")
    {
        stores.Add(await PostgresEventStore.OpenAsync(uri));
    }
    else
    {
        var dir = Directory.CreateTempSubdirectory("hr-storebench-").FullName;
        dirs.Add(dir);
        stores.Add(StoreSelection.OpenForAppliance(uri, dir, new FleetShippingOptions { DrainTimeout = TimeSpan.FromSeconds(1) }));
    }

    await stores[w].BeginRunAsync(new RunInfo($"bench-{w}", DateTimeOffset.UtcNow, EgressMode.Block) { Repository = "acme/web", Workflow = "ci", Job = "build", HostName = $"runner-{w}" });
}

var counts = new long[writers];
var watch = Stopwatch.StartNew();
var deadline = TimeSpan.FromSeconds(seconds);
await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
{
    var n = 0L;
    while (watch.Elapsed < deadline)
    {
        var events = new ApplianceEvent[batch];
        for (var i = 0; i < batch; i++, n++)
        {
            events[i] = new NetworkEvent(DateTimeOffset.UtcNow, "https", "registry.npmjs.org", "104.16.0.35", 443, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: registry.npmjs.org:443", "GET", $"/pkg-{w}/{n}")
            {
                Process = new ProcessInfo(4242, "/usr/bin/node", "node /usr/lib/node_modules/npm/bin/npm-cli.js ci", [new AncestorInfo(4200, "/usr/bin/bash"), new AncestorInfo(1000, "/home/runner/actions-runner/bin/Runner.Worker")]),
                Step = new StepInfo("__run_2", null),
            };
        }

        await stores[w].AppendAsync($"bench-{w}", events);
        Interlocked.Exchange(ref counts[w], n);
    }
})));
var appended = watch.Elapsed;
var total = counts.Sum();
Console.WriteLine($"appended {total} events in {appended.TotalSeconds:0.0} s: {total / appended.TotalSeconds:0} events/s ({string.Join(", ", counts.Select(c => (c / appended.TotalSeconds).ToString("0", CultureInfo.InvariantCulture)))} per writer)");

if (mode == "fleet")
{
    // end to end: until the last event is in PostgreSQL (bounded: 10 minutes)
    var fleets = stores.Cast<FleetEventStore>().ToList();
    var shipped = await Task.WhenAll(fleets.Select(f => f.WaitShippedAsync(TimeSpan.FromMinutes(10))));
    var all = watch.Elapsed;
    Console.WriteLine($"shipped everything: {shipped.All(s => s)} after {all.TotalSeconds:0.0} s: {total / all.TotalSeconds:0} events/s end to end into PostgreSQL");
}

foreach (var s in stores)
{
    await s.DisposeAsync();
}

await using (var c = new NpgsqlConnection(server.ConnectionString(db)))
{
    await c.OpenAsync();
    await using var cmd = new NpgsqlCommand("SELECT COUNT(*), COUNT(DISTINCT path) FROM events", c);
    await using var r = await cmd.ExecuteReaderAsync();
    await r.ReadAsync();
    Console.WriteLine($"in PostgreSQL: {r.GetInt64(0)} events, {r.GetInt64(1)} distinct (appended {total})");
}

foreach (var d in dirs)
{
    Directory.Delete(d, recursive: true);
}

return 0;
