using System.Text.Json;
using System.Text.Json.Nodes;
using HardenRunner.Reporting.Views;
using Json.Schema;

namespace HardenRunner.Tests.Reporting.Views;

public sealed class SarifReportTests(ViewFixture fixture) : IClassFixture<ViewFixture>
{
    /// <summary>
    /// The official SARIF 2.1.0 schema (OASIS sarif-2.1.0-rtm.5.json) is not kept in the repository:
    /// fetch-sarif-schema.sh (run by .ci/run) puts it in the user's cache. Without it the test is skipped, except in CI.
    /// </summary>
    private static string SchemaPath =>
        Environment.GetEnvironmentVariable("HARDEN_RUNNER_SARIF_SCHEMA") is { Length: > 0 } p ? p
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } c ? c : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "harden-runner", "sarif-2.1.0-rtm.5.json");

    private JsonObject Sarif => JsonNode.Parse(SarifReport.Render(fixture.Report, "1.0.0"))!.AsObject();

    [SkippableFact]
    public void Sarif_IsValid_AgainstTheSarif210Schema()
    {
        var inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        Skip.If(!File.Exists(SchemaPath) && !inCi, $"the SARIF schema is not at {SchemaPath}: run tests/HardenRunner.Tests/Reporting/Views/fetch-sarif-schema.sh");
        Assert.True(File.Exists(SchemaPath), $"the SARIF schema is not at {SchemaPath} (.ci/run fetches it)");

        // The schema is written in draft-04. Its keywords here ($ref to local definitions, type, properties, required,
        // additionalProperties, enum, minimum, uniqueItems, format, anyOf, oneOf, default) mean the same in draft-07,
        // which the validator implements; only 'id' (the schema's own URI, dropped here) became '$id', and exclusiveMinimum/Maximum (absent) changed meaning.
        var text = File.ReadAllText(SchemaPath);
        Assert.DoesNotContain("\"exclusiveMinimum\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"exclusiveMaximum\"", text, StringComparison.Ordinal);
        var schemaJson = JsonNode.Parse(text)!.AsObject();
        Assert.Equal("http://json-schema.org/draft-04/schema#", (string?)schemaJson["$schema"]);
        schemaJson["$schema"] = "http://json-schema.org/draft-07/schema#";
        schemaJson.Remove("id");
        var schema = JsonSchema.FromText(schemaJson.ToJsonString());

        Assert.Empty(Errors(schema, SarifReport.Render(fixture.Report, "1.0.0")));

        // the validator does reject what the schema forbids
        var broken = Sarif;
        broken["runs"]![0]!["results"]![0]!["level"] = "fatal";
        broken["runs"]![0]!["results"]![1]!.AsObject().Remove("message");
        broken["version"] = "2.0.0";
        Assert.True(Errors(schema, broken.ToJsonString()).Count >= 3);
    }

    [Fact]
    public void Sarif_HasTheRequiredStructureOfTheSpec()
    {
        // SARIF 2.1.0: sarifLog requires version "2.1.0" and runs; run requires tool; tool requires driver;
        // toolComponent requires name; result requires message (with text); reportingDescriptor requires id.
        var sarif = Sarif;
        Assert.Equal("2.1.0", (string?)sarif["version"]);
        Assert.Equal(SarifReport.SchemaUri, (string?)sarif["$schema"]);
        var run = Assert.Single(sarif["runs"]!.AsArray())!.AsObject();
        Assert.Equal("HardenRunner", (string?)run["tool"]!["driver"]!["name"]);
        var rules = run["tool"]!["driver"]!["rules"]!.AsArray();
        Assert.Equal(["egress-blocked", "reverse-shell", "source-overwritten", "sudo-used"], rules.Select(r => (string)r!["id"]!));
        Assert.All(rules, r => Assert.False(string.IsNullOrEmpty((string?)r!["shortDescription"]!["text"])));
        var results = run["results"]!.AsArray();
        Assert.Equal(4, results.Count);
        foreach (var r in results)
        {
            var ruleId = (string)r!["ruleId"]!;
            Assert.Equal(ruleId, (string?)rules[(int)r["ruleIndex"]!]!["id"]);
            Assert.False(string.IsNullOrEmpty((string?)r["message"]!["text"]));
            Assert.Contains((string?)r["level"], new[] { "error", "warning", "note" });
            Assert.NotNull(r["locations"]![0]!["physicalLocation"]!["artifactLocation"]!["uri"]);
            Assert.NotNull(r["partialFingerprints"]!["hardenRunnerDetection/v1"]);
        }
    }

    [Fact]
    public void Detections_MapToLevels_SecuritySeverity_AndLocations()
    {
        var run = Sarif["runs"]![0]!;
        var byRule = run["results"]!.AsArray().ToDictionary(r => (string)r!["ruleId"]!, r => r!);
        Assert.Equal("error", (string?)byRule["reverse-shell"]["level"]);
        Assert.Equal("error", (string?)byRule["source-overwritten"]["level"]);
        Assert.Equal("warning", (string?)byRule["egress-blocked"]["level"]);
        Assert.Equal("note", (string?)byRule["sudo-used"]["level"]);
        Assert.Equal("src/index.js", (string?)byRule["source-overwritten"]["locations"]![0]!["physicalLocation"]!["artifactLocation"]!["uri"]);
        Assert.Equal(SarifReport.PolicyFile, (string?)byRule["reverse-shell"]["locations"]![0]!["physicalLocation"]!["artifactLocation"]!["uri"]);
        var rule = run["tool"]!["driver"]!["rules"]!.AsArray().Single(r => (string?)r!["id"] == "reverse-shell")!;
        Assert.Equal("9.5", (string?)rule["properties"]!["security-severity"]);
        Assert.Contains("(step __run_2)", (string?)byRule["reverse-shell"]["message"]!["text"], StringComparison.Ordinal);
        Assert.Equal("<script>window.__pwned=3</script>", (string?)byRule["egress-blocked"]["properties"]!["evidence"]!["note"]);
    }

    [Fact]
    public void Fingerprints_AreStableAcrossRuns_OfTheSameJob()
    {
        var a = Sarif["runs"]![0]!["results"]!.AsArray().Select(r => (string)r!["partialFingerprints"]!["hardenRunnerDetection/v1"]!).ToList();
        var b = JsonNode.Parse(SarifReport.Render(fixture.Report))!["runs"]![0]!["results"]!.AsArray().Select(r => (string)r!["partialFingerprints"]!["hardenRunnerDetection/v1"]!).ToList();
        Assert.Equal(a, b);
        Assert.Equal(4, a.Distinct().Count());
    }

    [Fact]
    public async Task NoDetections_IsAnEmptyResultsArray()
    {
        var report = await fixture.EditedAsync(j => j["detections"] = new JsonArray());
        var run = JsonNode.Parse(SarifReport.Render(report))!["runs"]![0]!;
        Assert.Empty(run["results"]!.AsArray());
        Assert.Empty(run["tool"]!["driver"]!["rules"]!.AsArray());
    }

    private static List<string> Errors(JsonSchema schema, string json)
    {
        using var doc = JsonDocument.Parse(json);
        var result = schema.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
        return result.IsValid ? [] : [.. (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}")).DefaultIfEmpty("invalid")];
    }
}
