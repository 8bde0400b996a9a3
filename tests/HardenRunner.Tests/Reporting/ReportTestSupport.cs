using System.Text.Json;
using System.Text.Json.Nodes;
using HardenRunner.Store;
using Json.Schema;

namespace HardenRunner.Tests.Reporting;

/// <summary>The report schema kept in the repository (docs/report.schema.json), loaded once.</summary>
public static class ReportSchema
{
    private static readonly Lazy<JsonSchema> Schema = new(() => JsonSchema.FromFile(PathInRepo("docs/report.schema.json")));

    public static string PathInRepo(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HardenRunner.sln")))
            {
                return Path.Combine(dir.FullName, relative);
            }
        }

        throw new FileNotFoundException($"cannot find the repository root above {AppContext.BaseDirectory}");
    }

    /// <summary>Validation errors of a report (empty when it is valid), as "location: message" lines.</summary>
    public static IReadOnlyList<string> Errors(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var result = Schema.Value.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
        if (result.IsValid)
        {
            return [];
        }

        return [.. (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}"))
            .DefaultIfEmpty("invalid (no details)")];
    }

    public static void AssertValid(string json)
    {
        var errors = Errors(json);
        Assert.True(errors.Count == 0, "the report does not match docs/report.schema.json:\n" + string.Join("\n", errors));
    }

    public static JsonObject Parse(string json) => JsonNode.Parse(json)!.AsObject();
}

/// <summary>A store under a temporary state directory.</summary>
public sealed class StoreFixture : IAsyncDisposable
{
    private StoreFixture(string stateDir, SqliteEventStore store)
    {
        StateDir = stateDir;
        Store = store;
    }

    public string StateDir { get; }

    public SqliteEventStore Store { get; }

    public static StoreFixture Create()
    {
        var dir = Directory.CreateTempSubdirectory("hr-report-").FullName;
        return new StoreFixture(dir, SqliteEventStore.Open(SqliteEventStore.PathIn(dir)));
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        try
        {
            Directory.Delete(StateDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
