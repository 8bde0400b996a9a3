using System.Text;
using System.Text.Json;
using GraphQLParser;
using GraphQLParser.AST;
using GraphQLParser.Exceptions;
using HardenRunner.Events;

namespace HardenRunner.Insights.Permissions;

/// <summary>
/// Reduces a GraphQL request to a <see cref="GraphQlSummary"/>: which operation runs (the one named by
/// <c>operationName</c>, or the only one), its type, and its selected field paths to depth 3 (fragments spread in,
/// aliases resolved to field names), plus literal or variable <c>repository(owner:, name:)</c> arguments. Never keeps
/// argument values otherwise. Bad input gives a summary with <see cref="GraphQlSummary.Error"/>, never an exception. Pure.
/// </summary>
public static class GraphQlOperationReader
{
    /// <summary>Deepest field path kept (<c>repository.defaultBranchRef.target</c>).</summary>
    public const int MaxDepth = 3;

    /// <summary>Longest query text parsed.</summary>
    public const int MaxQueryLength = 256 * 1024;

    private const int MaxFragmentExpansions = 256;

    /// <summary>Summarises a JSON request body (<c>{"query": …, "operationName": …, "variables": …}</c>), possibly only its first bytes.</summary>
    public static GraphQlSummary FromBody(ReadOnlySpan<byte> body, bool complete)
    {
        string? query = null;
        string? operationName = null;
        JsonElement? variables = null;
        if (complete)
        {
            try
            {
                using var doc = JsonDocument.Parse(body.ToArray(), new JsonDocumentOptions { MaxDepth = 64 });
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                {
                    return Failed("the body is not a JSON object (batched requests are not read)");
                }

                var o = doc.RootElement;
                query = o.TryGetProperty("query", out var q) && q.ValueKind == JsonValueKind.String ? q.GetString() : null;
                operationName = o.TryGetProperty("operationName", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null;
                variables = o.TryGetProperty("variables", out var v) && v.ValueKind == JsonValueKind.Object ? v.Clone() : null;
            }
            catch (JsonException ex)
            {
                return Failed("the body is not JSON: " + ex.Message);
            }
        }
        else
        {
            // only a prefix: take the query string if it is complete in it (it usually comes first)
            var reader = new Utf8JsonReader(body, isFinalBlock: false, new JsonReaderState(new JsonReaderOptions { MaxDepth = 64 }));
            try
            {
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                {
                    return Failed("the body is not a JSON object");
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString();
                    if (!reader.Read())
                    {
                        break;
                    }

                    if (name == "query" && reader.TokenType == JsonTokenType.String)
                    {
                        query = reader.GetString();
                    }
                    else if (name == "operationName" && reader.TokenType == JsonTokenType.String)
                    {
                        operationName = reader.GetString();
                    }
                    else if (!reader.TrySkip())
                    {
                        break;
                    }
                }
            }
            catch (JsonException ex)
            {
                return Failed("the body is not JSON: " + ex.Message);
            }

            if (query is null)
            {
                return Failed("the query was not within the first bytes of the body that were read");
            }
        }

        return query is null ? Failed("the body has no query string") : FromQuery(query, operationName, variables);
    }

    /// <summary>Summarises a GraphQL document and the operation to run.</summary>
    public static GraphQlSummary FromQuery(string query, string? operationName = null, JsonElement? variables = null)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.Length > MaxQueryLength)
        {
            return Failed($"the query is longer than {MaxQueryLength} characters");
        }

        GraphQLDocument document;
        try
        {
            document = Parser.Parse(query, new ParserOptions { Ignore = IgnoreOptions.All, MaxDepth = 128 });
        }
        catch (Exception ex) when (ex is GraphQLParserException or GraphQLMaxDepthExceededException)
        {
            return Failed("the query does not parse: " + ex.Message.ReplaceLineEndings(" "));
        }

        var operations = document.Definitions.OfType<GraphQLOperationDefinition>().ToList();
        var fragments = new Dictionary<string, GraphQLFragmentDefinition>(StringComparer.Ordinal);
        foreach (var f in document.Definitions.OfType<GraphQLFragmentDefinition>())
        {
            fragments.TryAdd(f.FragmentName.Name.StringValue, f);
        }

        GraphQLOperationDefinition? op = operationName is null
            ? (operations.Count == 1 ? operations[0] : null)
            : operations.FirstOrDefault(o => o.Name is not null && o.Name.StringValue == operationName);
        if (op is null)
        {
            return Failed(operations.Count == 0 ? "the document has no operation" : operationName is null
                ? "several operations and no operationName"
                : $"no operation named '{operationName}'");
        }

        var fields = new List<string>();
        var repositories = new List<string>();
        var expansions = 0;
        Collect(op.SelectionSet, "", 1, fields, repositories, fragments, variables, ref expansions);
        var type = op.Operation switch
        {
            OperationType.Mutation => "mutation",
            OperationType.Subscription => "subscription",
            _ => "query",
        };
        return new GraphQlSummary(type, fields.Distinct(StringComparer.Ordinal).Take(GraphQlSummary.MaxFields).ToArray(), repositories.Distinct(StringComparer.OrdinalIgnoreCase).Take(8).ToArray());
    }

    private static void Collect(
        GraphQLSelectionSet? set,
        string prefix,
        int depth,
        List<string> fields,
        List<string> repositories,
        Dictionary<string, GraphQLFragmentDefinition> fragments,
        JsonElement? variables,
        ref int expansions)
    {
        if (set is null || depth > MaxDepth || fields.Count >= GraphQlSummary.MaxFields)
        {
            return;
        }

        foreach (var selection in set.Selections)
        {
            switch (selection)
            {
                case GraphQLField field:
                    var name = field.Name.StringValue;
                    var path = prefix.Length == 0 ? name : prefix + "." + name;
                    fields.Add(path);
                    if (depth == 1 && name == "repository" && RepositoryArgument(field, variables) is { } repo)
                    {
                        repositories.Add(repo);
                    }

                    Collect(field.SelectionSet, path, depth + 1, fields, repositories, fragments, variables, ref expansions);
                    break;
                case GraphQLInlineFragment inline:
                    Collect(inline.SelectionSet, prefix, depth, fields, repositories, fragments, variables, ref expansions);
                    break;
                case GraphQLFragmentSpread spread when fragments.TryGetValue(spread.FragmentName.Name.StringValue, out var fragment):
                    if (++expansions <= MaxFragmentExpansions)
                    {
                        Collect(fragment.SelectionSet, prefix, depth, fields, repositories, fragments, variables, ref expansions);
                    }

                    break;
            }
        }
    }

    private static string? RepositoryArgument(GraphQLField field, JsonElement? variables)
    {
        string? owner = null;
        string? name = null;
        foreach (var arg in field.Arguments?.Items ?? [])
        {
            var value = arg.Value switch
            {
                GraphQLStringValue s => s.Value.ToString(),
                GraphQLVariable v when variables is { } vars && vars.TryGetProperty(v.Name.StringValue, out var x) && x.ValueKind == JsonValueKind.String => x.GetString(),
                _ => null,
            };
            if (arg.Name.StringValue == "owner")
            {
                owner = value;
            }
            else if (arg.Name.StringValue == "name")
            {
                name = value;
            }
        }

        return owner is { Length: > 0 and <= 100 } && name is { Length: > 0 and <= 100 } && IsPlain(owner) && IsPlain(name) ? $"{owner}/{name}" : null;
    }

    private static bool IsPlain(string s) => s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static GraphQlSummary Failed(string why) =>
        new(GraphQlSummary.Unknown, [], [], why.Length > 200 ? why[..200] : why);

    /// <summary>UTF-8 of a string (tests).</summary>
    internal static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);
}
