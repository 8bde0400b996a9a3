using System.Text.Json.Serialization;

namespace HardenRunner.Cli.Commands;

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ExplainJson))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
