using System.Text.Json;
using HardenRunner.Reporting;
using HardenRunner.Store.Postgres;

namespace HardenRunner.Tests.Store;

/// <summary><c>harden-runner report --store postgres://…</c> renders a run from the fleet database; failures show no password.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresReportTests(PostgresFixture pg) : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Report_FromPostgres_RendersTheRunOfAnotherRunner()
    {
        var db = await pg.Server.CreateDatabaseAsync();
        await using (var store = await PostgresEventStore.OpenAsync(pg.Server.Uri(db)))
        {
            await store.BeginRunAsync(SampleEvents.Run("r-remote") with { HostName = "runner-elsewhere" });
            await store.AppendAsync("r-remote", SampleEvents.OneOfEach());
        }

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var uri = $"postgres://{PostgresServer.User}:{pg.Server.Password}@127.0.0.1:{pg.Server.Port}/{db}";
        var code = await ReportRunner.RunAsync(new ReportRequest(_dir.Path, null, ReportRunner.JsonFormat, null, uri), stdout, stderr);
        Assert.True(code == 0, stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        Assert.Equal("r-remote", doc.RootElement.GetProperty("run").GetProperty("id").GetString());
        Assert.Equal(3, doc.RootElement.GetProperty("network").GetArrayLength());
    }

    [Fact]
    public async Task Report_UnknownRunOrUnreachable_FailsClearly_WithoutThePassword()
    {
        var db = await pg.Server.CreateDatabaseAsync();
        var uri = $"postgres://{PostgresServer.User}:{pg.Server.Password}@127.0.0.1:{pg.Server.Port}/{db}";
        var stderr = new StringWriter();
        Assert.Equal(2, await ReportRunner.RunAsync(new ReportRequest(_dir.Path, "nope", ReportRunner.JsonFormat, null, uri), new StringWriter(), stderr));
        Assert.Contains("no run 'nope'", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(pg.Server.Password, stderr.ToString(), StringComparison.Ordinal);

        var unreachable = $"postgres://{PostgresServer.User}:{pg.Server.Password}@127.0.0.1:1/{db}";
        stderr = new StringWriter();
        Assert.Equal(1, await ReportRunner.RunAsync(new ReportRequest(_dir.Path, null, ReportRunner.JsonFormat, null, unreachable), new StringWriter(), stderr));
        Assert.Contains("unreachable", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains($"postgres://{PostgresServer.User}@127.0.0.1:1/{db}", stderr.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(pg.Server.Password, stderr.ToString(), StringComparison.Ordinal);

        stderr = new StringWriter();
        Assert.Equal(2, await ReportRunner.RunAsync(new ReportRequest(_dir.Path, null, ReportRunner.JsonFormat, null, "mysql://u:pw@h/d"), new StringWriter(), stderr));
        Assert.Contains("unsupported store", stderr.ToString(), StringComparison.Ordinal);
    }
}
