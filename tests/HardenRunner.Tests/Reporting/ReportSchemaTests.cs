using System.Text.Json.Nodes;
using HardenRunner.Reporting;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Reporting;

/// <summary>docs/report.schema.json accepts what the builder writes and rejects what DESIGN §5 does not allow.</summary>
public sealed class ReportSchemaTests : IAsyncLifetime
{
    private StoreFixture _fixture = null!;
    private string _valid = "";

    public async Task InitializeAsync()
    {
        _fixture = StoreFixture.Create();
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("r1"));
        await _fixture.Store.AppendAsync("r1", SampleEvents.OneOfEach());
        _valid = await JsonReportBuilder.BuildAsync(_fixture.Store, (await _fixture.Store.GetRunAsync("r1"))!);
    }

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public void GeneratedReport_IsValid() => ReportSchema.AssertValid(_valid);

    public static TheoryData<string, Action<JsonObject>> Breakages() => new()
    {
        { "schemaVersion 2", r => r["schemaVersion"] = 2 },
        { "missing run", r => r.Remove("run") },
        { "extra top-level property", r => r["extra"] = true },
        { "egressPolicy other", r => r["run"]!["egressPolicy"] = "monitor" },
        { "startedAt not a date-time", r => r["run"]!["startedAt"] = "yesterday" },
        { "network decision maybe", r => r["network"]![0]!["decision"] = "maybe" },
        { "network action dropped", r => r["network"]![0]!["action"] = "dropped" },
        { "allow but blocked", r => { r["network"]![0]!["decision"] = "allow"; r["network"]![0]!["action"] = "blocked"; } },
        { "network kind ftp", r => r["network"]![0]!["kind"] = "ftp" },
        { "port out of range", r => r["network"]![0]!["port"] = 70000 },
        { "process without ancestors", r => r["network"]![0]!["process"]!.AsObject().Remove("ancestors") },
        { "step as a string", r => r["network"]![0]!["step"] = "checkout" },
        { "file operation chmod", r => r["files"]![0]!["operation"] = "chmod" },
        { "severity urgent", r => r["detections"]![0]!["severity"] = "urgent" },
        { "evidence with a number", r => r["detections"]![0]!["evidence"]!["count"] = 3 },
        { "tokenPermissions admin", r => r["tokenPermissions"]!["contents"] = "admin" },
        { "recommendedPolicy not text", r => r["recommendedPolicy"] = new JsonObject() },
    };

    [Theory]
    [MemberData(nameof(Breakages))]
    public void BrokenReport_IsRejected(string name, Action<JsonObject> breakIt)
    {
        var report = ReportSchema.Parse(_valid);
        breakIt(report);
        Assert.True(ReportSchema.Errors(report.ToJsonString()).Count > 0, $"the schema accepted a report with {name}");
    }

    [Fact]
    public void DesignExample_TokenPermissions_IsAccepted()
    {
        var report = ReportSchema.Parse(_valid);
        report["tokenPermissions"] = new JsonObject { ["contents"] = "read", ["issues"] = "write" };
        ReportSchema.AssertValid(report.ToJsonString());
    }
}
