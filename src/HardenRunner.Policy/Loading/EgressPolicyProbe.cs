using HardenRunner.Policy.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HardenRunner.Policy.Loading;

/// <summary>
/// Reads only the top-level <c>egress-policy</c> of a policy file that may be invalid elsewhere, so that a run that
/// refuses an invalid policy still knows whether the user asked for block mode (and then leaves egress closed).
/// Lenient about everything except that one key: unknown keys, bad endpoints or a missing preset do not matter; a
/// YAML syntax error (the file cannot be read as a mapping at all), a duplicate key, or a value other than
/// <c>audit</c>/<c>block</c> means "unknown" (null).
/// </summary>
public static class EgressPolicyProbe
{
    /// <summary>The file's own <c>egress-policy</c>, or null when it does not say (or cannot be read).</summary>
    public static EgressMode? Read(string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        YamlNode? root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        }
        catch (YamlException)
        {
            return null;
        }

        if (root is not YamlMappingNode map)
        {
            return null;
        }

        EgressMode? mode = null;
        var seen = 0;
        foreach (var (key, value) in map.Children)
        {
            if (key is not YamlScalarNode { Value: "egress-policy" })
            {
                continue;
            }

            seen++;
            mode = (value as YamlScalarNode)?.Value switch
            {
                { } v when v.Equals("block", StringComparison.OrdinalIgnoreCase) => EgressMode.Block,
                { } v when v.Equals("audit", StringComparison.OrdinalIgnoreCase) => EgressMode.Audit,
                _ => null,
            };
        }

        return seen == 1 ? mode : null;
    }
}
