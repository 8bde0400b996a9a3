using System.Diagnostics;
using HardenRunner.Events;
using HardenRunner.Policy.Model;
using HardenRunner.Store;

/// <summary>
/// <c>stop --events N</c>: what the appliance's stop does after a run of N events, timed step by step on a local SQLite
/// store (docs/performance.md): the baseline detections, <c>report.json</c> (every event, streamed) and the views. The
/// events are DNS queries of one process, as in the DNS benchmark; the store is removed at the end.
/// </summary>
internal static class StopBench
{
    public static async Task<int> RunAsync(int events)
    {
        var dir = Directory.CreateTempSubdirectory("hr-stopbench-").FullName;
        try
        {
            await using var store = SqliteEventStore.Open(SqliteEventStore.PathIn(dir), durable: false);
            var run = new RunInfo("big", DateTimeOffset.UtcNow, EgressMode.Block) { Repository = "acme/web", Workflow = "ci", Job = "build" };
            await store.BeginRunAsync(run);
            var process = new ProcessInfo(4242, "/usr/bin/dig", "dig n001.allowed.test", [new AncestorInfo(4200, "/usr/bin/bash"), new AncestorInfo(1000, "/home/runner/actions-runner/bin/Runner.Worker")]);
            var watch = Stopwatch.StartNew();
            var batch = new List<ApplianceEvent>(1000);
            for (var i = 0; i < events; i++)
            {
                batch.Add(new NetworkEvent(DateTimeOffset.UtcNow, "dns", $"n{i % 200:D3}.allowed.test", null, 53, Decision.Allow, NetworkEvent.Passed, "allowed-endpoints: allowed.test:443", QueryType: "A") { Process = process });
                if (batch.Count == batch.Capacity)
                {
                    await store.AppendAsync("big", batch);
                    batch.Clear();
                }
            }

            await store.AppendAsync("big", batch);
            Console.WriteLine($"stop bench: {events} events stored in {watch.Elapsed.TotalSeconds:0.0} s; {Environment.ProcessorCount} cores");
            watch.Restart();
            await HardenRunner.Insights.Detections.BaselineDetections.AppendAsync(store, "big");
            var baseline = watch.Elapsed;
            await store.EndRunAsync("big", DateTimeOffset.UtcNow, 0);
            watch.Restart();
            await HardenRunner.Reporting.RunReportFile.WriteJsonAsync(store, "big", dir);
            var json = watch.Elapsed;
            watch.Restart();
            await HardenRunner.Reporting.Views.ReportViews.WriteStopReportsAsync(store, "big", dir, _ => null);
            var views = watch.Elapsed;
            var size = new FileInfo(Path.Combine(dir, HardenRunner.Reporting.RunReportFile.JsonFileName)).Length;
            Console.WriteLine($"baseline detections {baseline.TotalSeconds:0.0} s, report.json {json.TotalSeconds:0.0} s ({size / 1048576} MiB), views {views.TotalSeconds:0.0} s: {(baseline + json + views).TotalSeconds:0.0} s in all; GC pauses {GC.GetTotalPauseDuration().TotalSeconds:0.0} s");
            return 0;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
