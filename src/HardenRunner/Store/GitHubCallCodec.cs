using System.Text.Json;
using HardenRunner.Events;

namespace HardenRunner.Store;

/// <summary>The <c>github</c> object of a stored network event (<see cref="GitHubCall"/>); absent when the event has none.</summary>
internal static class GitHubCallCodec
{
    public static void Write(Utf8JsonWriter w, GitHubCall? call)
    {
        if (call is null)
        {
            return;
        }

        w.WriteStartObject("github");
        w.WriteString("token", call.Token);
        if (call.Status is { } status)
        {
            w.WriteNumber("status", status);
        }

        if (call.AcceptedPermissions is { } accepted)
        {
            w.WriteString("acceptedPermissions", accepted);
        }

        if (call.GraphQl is { } g)
        {
            w.WriteStartObject("graphql");
            w.WriteString("operation", g.Operation);
            w.WriteStartArray("fields");
            foreach (var f in g.Fields)
            {
                w.WriteStringValue(f);
            }

            w.WriteEndArray();
            w.WriteStartArray("repositories");
            foreach (var r in g.Repositories)
            {
                w.WriteStringValue(r);
            }

            w.WriteEndArray();
            if (g.Error is { } error)
            {
                w.WriteString("error", error);
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    public static GitHubCall? Read(JsonElement o)
    {
        if (!o.TryGetProperty("github", out var g) || g.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        GraphQlSummary? graphQl = null;
        if (g.TryGetProperty("graphql", out var q) && q.ValueKind == JsonValueKind.Object)
        {
            graphQl = new GraphQlSummary(Str(q, "operation") ?? GraphQlSummary.Unknown, Strings(q, "fields"), Strings(q, "repositories"), Str(q, "error"));
        }

        return new GitHubCall(
            Str(g, "token") ?? GitHubCall.OtherCredential,
            g.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetInt32() : null,
            Str(g, "acceptedPermissions"),
            graphQl);
    }

    private static string? Str(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string[] Strings(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? [.. v.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)]
            : [];
}
