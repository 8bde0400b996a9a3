using System.Text.Json.Nodes;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;

namespace HardenRunner.Tests.Reporting.Views;

/// <summary>A real SQLite store under a temporary state directory with the sample run recorded, and its report read back.</summary>
public sealed class ViewFixture : IAsyncLifetime
{
    private StoreFixture _store = null!;

    public SqliteEventStore Store => _store.Store;

    public string StateDir => _store.StateDir;

    public RunInfo Run { get; private set; } = null!;

    public RunReport Report { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _store = StoreFixture.Create();
        Run = await ViewSampleRun.RecordAsync(_store.Store);
        Report = await RunReportLoader.LoadAsync(_store.Store, Run);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    /// <summary>The sample report with its JSON changed by <paramref name="edit"/> (e.g. tokenPermissions filled), read back as the views read it.</summary>
    public async Task<RunReport> EditedAsync(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(await HardenRunner.Reporting.JsonReportBuilder.BuildAsync(Store, Run))!.AsObject();
        edit(json);
        using var stream = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));
        return await RunReportLoader.ReadAsync(stream);
    }
}
