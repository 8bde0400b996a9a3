using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using HardenRunner.Policy.Model;

namespace HardenRunner.Netfilter;

/// <summary>An element found in a dynamic allow set; <see cref="Expires"/> is null when it has no timeout.</summary>
public readonly record struct ListedElement(AllowElement? Element, string Text, TimeSpan? Expires);

/// <summary>
/// The table as nft lists it (JSON), split into what must never change — every table, set, counter, chain and rule,
/// with handles, counter values and the dynamic sets' elements removed — and the dynamic elements, which are
/// checked separately against what the appliance added.
/// </summary>
public sealed class RulesetSnapshot
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    private RulesetSnapshot(IReadOnlyList<string> items, IReadOnlyList<ListedElement> dynamicElements)
    {
        Items = items;
        DynamicElements = dynamicElements;
    }

    /// <summary>The canonical text of each object of the table, in listing order.</summary>
    public IReadOnlyList<string> Items { get; }

    public IReadOnlyList<ListedElement> DynamicElements { get; }

    /// <summary>Parses the output of <c>nft -j -s list table inet harden_runner</c>.</summary>
    public static RulesetSnapshot Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var root = JsonNode.Parse(json) ?? throw new FormatException("empty nft JSON listing");
        var array = root["nftables"] as JsonArray ?? throw new FormatException("nft JSON listing without an 'nftables' array");
        var items = new List<string>();
        var elements = new List<ListedElement>();
        foreach (var node in array)
        {
            if (node is not JsonObject item || item.ContainsKey("metainfo"))
            {
                continue;
            }

            foreach (var (kind, value) in item)
            {
                if (value is not JsonObject body)
                {
                    continue;
                }

                body.Remove("handle");
                if (kind == "counter")
                {
                    body.Remove("packets");
                    body.Remove("bytes");
                }

                if (kind == "set" && IsDynamicSet(body) && body["elem"] is JsonArray elem)
                {
                    foreach (var e in elem)
                    {
                        elements.Add(ParseElement(e));
                    }

                    body.Remove("elem");
                }
            }

            items.Add(item.ToJsonString(Compact));
        }

        return new RulesetSnapshot(items, elements);
    }

    /// <summary>Null when both list the same objects; otherwise a short description of the first difference.</summary>
    public static string? Compare(RulesetSnapshot expected, RulesetSnapshot actual)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(actual);
        if (expected.Items.SequenceEqual(actual.Items, StringComparer.Ordinal))
        {
            return null;
        }

        var actualSet = actual.Items.ToHashSet(StringComparer.Ordinal);
        var expectedSet = expected.Items.ToHashSet(StringComparer.Ordinal);
        var missing = expected.Items.Where(i => !actualSet.Contains(i)).ToList();
        var added = actual.Items.Where(i => !expectedSet.Contains(i)).ToList();
        var parts = new List<string>();
        if (missing.Count > 0)
        {
            parts.Add($"{missing.Count} object(s) missing or changed, first: {Shorten(missing[0])}");
        }

        if (added.Count > 0)
        {
            parts.Add($"{added.Count} object(s) added or changed, first: {Shorten(added[0])}");
        }

        return parts.Count > 0 ? string.Join("; ", parts) : "objects reordered";
    }

    private static bool IsDynamicSet(JsonObject set) =>
        set["name"]?.GetValue<string>() is NftNames.Allow4 or NftNames.Allow6;

    private static ListedElement ParseElement(JsonNode? node)
    {
        var text = node?.ToJsonString(Compact) ?? "null";
        TimeSpan? expires = null;
        var value = node;
        if (node is JsonObject o && o["elem"] is JsonObject wrapped)
        {
            value = wrapped["val"];
            if (wrapped["expires"] is JsonValue ev && ev.TryGetValue<long>(out var seconds))
            {
                expires = TimeSpan.FromSeconds(seconds);
            }
            else if (wrapped["timeout"] is JsonValue tv && tv.TryGetValue<long>(out var timeout))
            {
                expires = TimeSpan.FromSeconds(timeout);
            }
        }

        return new ListedElement(TryElement(value), text, expires);
    }

    private static AllowElement? TryElement(JsonNode? value)
    {
        if (value is not JsonObject o || o["concat"] is not JsonArray c || c.Count != 3)
        {
            return null;
        }

        if (c[0] is not JsonValue a || !a.TryGetValue<string>(out var addressText) || !IPAddress.TryParse(addressText, out var address))
        {
            return null;
        }

        Transport transport;
        if (c[1] is JsonValue p && p.TryGetValue<string>(out var proto) && proto is "tcp" or "udp")
        {
            transport = proto == "udp" ? Transport.Udp : Transport.Tcp;
        }
        else if (c[1] is JsonValue pn && pn.TryGetValue<int>(out var number) && number is 6 or 17)
        {
            transport = number == 17 ? Transport.Udp : Transport.Tcp;
        }
        else
        {
            return null;
        }

        if (c[2] is not JsonValue portValue || !portValue.TryGetValue<int>(out var port) || port is < 1 or > 65535)
        {
            return null;
        }

        return new AllowElement(address, transport, port);
    }

    private static string Shorten(string s) => s.Length <= 300 ? s : s[..300] + "…";
}
