using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HardenRunner.Policy.Loading;

/// <summary>
/// Where each entry of an endpoint list written as one YAML string stands in the source — a plain or quoted string, or
/// a block scalar (<c>|</c>, <c>&gt;</c>) — so that a diagnostic points at the entry's own line and column rather
/// than at the start of the string. Reads the raw text between the scalar's start and end marks (for a block scalar,
/// from the line after its header; for a quoted one, inside the quotes) and splits it as
/// <see cref="PolicyLoader.SplitEndpointList"/> splits the value. When the raw entries are not exactly the value's
/// (escapes in a double-quoted string, <c>''</c> in a single-quoted one) it returns null: the caller then reports at
/// the start of the string, which is never a wrong place, only a less precise one.
/// </summary>
internal static class ScalarTokenLocator
{
    /// <summary>Each entry with its 1-based line and column; null when the raw text does not map onto the value.</summary>
    public static List<(string Text, int Line, int Column)>? Locate(string yaml, YamlScalarNode node)
    {
        var lines = yaml.Split('\n');
        var line = (int)node.Start.Line;
        var column = (int)node.Start.Column;
        var endLine = (int)node.End.Line;
        var endColumn = (int)node.End.Column;
        if (line < 1 || column < 1 || endLine < line || line > lines.Length)
        {
            return null;
        }

        switch (node.Style)
        {
            case ScalarStyle.Literal or ScalarStyle.Folded:
                // the header line holds the indicator, chomping and indentation indicators and perhaps a comment; no entry
                line++;
                column = 1;
                break;
            case ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted:
                column++;
                endColumn--;
                break;
        }

        var tokens = new List<(string, int, int)>();
        for (; line <= endLine && line <= lines.Length; line++, column = 1)
        {
            var text = lines[line - 1];
            var stop = line == endLine ? Math.Min(endColumn - 1, text.Length) : text.Length;
            var i = column - 1;
            while (i < stop)
            {
                if (IsSeparator(text[i]))
                {
                    i++;
                    continue;
                }

                var start = i;
                while (i < stop && !IsSeparator(text[i]))
                {
                    i++;
                }

                tokens.Add((text[start..i], line, start + 1));
            }
        }

        var expected = PolicyLoader.SplitEndpointList(node.Value ?? "");
        return tokens.Select(t => t.Item1).SequenceEqual(expected, StringComparer.Ordinal) ? tokens : null;
    }

    /// <summary>The separators of <see cref="PolicyLoader.SplitEndpointList"/> other than the line break (lines are split first).</summary>
    private static bool IsSeparator(char c) => c is ' ' or '\t' or '\r' or ',';
}
