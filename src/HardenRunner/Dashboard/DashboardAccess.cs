using System.Globalization;
using HardenRunner.Store;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace HardenRunner.Dashboard;

/// <summary>
/// Who may see which repositories on the dashboard (<c>--access FILE</c>, docs/reports.md). The file is one YAML
/// mapping with a <c>users</c> key: each user name maps to a list of repository patterns, <c>OWNER/NAME</c> (one
/// repository), <c>OWNER/*</c> (every repository of an owner) or <c>*</c> (everything, including runs recorded
/// without a repository). Matching ignores case, as GitHub does. A user not in the file sees nothing; a user with an
/// empty list sees nothing. Anything else in the file is refused with the line it is on: a bad mapping never means
/// "allow".
/// </summary>
public sealed class DashboardAccess
{
    /// <summary>Longest user name or pattern accepted.</summary>
    public const int MaxLength = 256;

    private readonly Dictionary<string, RepositoryPattern[]> _users;

    private DashboardAccess(Dictionary<string, RepositoryPattern[]> users) => _users = users;

    /// <summary>The configured user names.</summary>
    public IReadOnlyCollection<string> Users => _users.Keys;

    /// <summary>The largest access file read (it is read whole, and YAML parsing is not streamed).</summary>
    public const long MaxFileBytes = 4 * 1024 * 1024;

    /// <summary>Reads a mapping file. Throws <see cref="FormatException"/> (bad content) or <see cref="IOException"/>.</summary>
    public static DashboardAccess Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string text;
        try
        {
            var length = new FileInfo(path).Length;
            if (length > MaxFileBytes)
            {
                throw new FormatException($"the access file {path} is {length} bytes; the limit is {MaxFileBytes} (one line per user and pattern fits millions of entries)");
            }

            text = File.ReadAllText(path);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new IOException(ex.Message, ex);
        }

        return Parse(text);
    }

    /// <summary>Parses a mapping. Throws <see cref="FormatException"/> naming the problem and its line.</summary>
    public static DashboardAccess Parse(string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            throw new FormatException($"the access file is not valid YAML: {ex.Message}", ex);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new FormatException("the access file must be one YAML mapping with a 'users' key");
        }

        YamlMappingNode? users = null;
        foreach (var (k, v) in root.Children)
        {
            var key = Scalar(k, "a key");
            if (key != "users")
            {
                throw Bad(k, $"unknown key '{key}' (only 'users' is allowed)");
            }

            users = v as YamlMappingNode ?? throw Bad(v, "'users' must map each user name to a list of repository patterns");
        }

        if (users is null)
        {
            throw new FormatException("the access file has no 'users' mapping");
        }

        var result = new Dictionary<string, RepositoryPattern[]>(StringComparer.Ordinal);
        foreach (var (k, v) in users.Children)
        {
            var user = Scalar(k, "a user name");
            if (user.Length == 0 || user.Length > MaxLength || user.Any(char.IsControl) || user != user.Trim())
            {
                throw Bad(k, "a user name must be 1 to 256 characters, without control characters or surrounding spaces");
            }

            if (v is not YamlSequenceNode list)
            {
                throw Bad(v, $"user '{user}': the repositories must be a list (use [] for none)");
            }

            if (!result.TryAdd(user, [.. list.Children.Select(n => RepositoryPattern.Parse(Scalar(n, "a repository pattern"), n))]))
            {
                throw Bad(k, $"user '{user}' is listed twice");
            }
        }

        return new DashboardAccess(result);
    }

    /// <summary>Whether <paramref name="user"/> is in the mapping.</summary>
    public bool Knows(string user) => _users.ContainsKey(user);

    /// <summary>Whether <paramref name="user"/> may see runs of <paramref name="repository"/> (null: a run recorded without one).</summary>
    public bool Allows(string user, string? repository)
    {
        ArgumentNullException.ThrowIfNull(user);
        return _users.TryGetValue(user, out var patterns) && patterns.Any(p => p.Matches(repository));
    }

    /// <summary>Whether <paramref name="user"/> may see <paramref name="run"/>.</summary>
    public bool Allows(string user, RunInfo run)
    {
        ArgumentNullException.ThrowIfNull(run);
        return Allows(user, run.Repository);
    }

    private static string Scalar(YamlNode node, string what) =>
        node is YamlScalarNode { Value: { } v } ? v : throw Bad(node, $"{what} must be a plain value");

    private static FormatException Bad(YamlNode node, string message) =>
        new(string.Create(CultureInfo.InvariantCulture, $"the access file, line {node.Start.Line}: {message}"));

    /// <summary>One pattern: <c>*</c>, <c>OWNER/*</c> or <c>OWNER/NAME</c>.</summary>
    private sealed record RepositoryPattern(string? Owner, string? Name)
    {
        public static RepositoryPattern Parse(string text, YamlNode node)
        {
            if (text == "*")
            {
                return new RepositoryPattern(null, null);
            }

            var parts = text.Split('/');
            if (text.Length > MaxLength || parts.Length != 2 || !ValidPart(parts[0]) || (parts[1] != "*" && !ValidPart(parts[1])))
            {
                throw Bad(node, $"'{text}' is not a repository pattern: use OWNER/NAME, OWNER/* or *");
            }

            return new RepositoryPattern(parts[0], parts[1] == "*" ? null : parts[1]);
        }

        public bool Matches(string? repository)
        {
            if (Owner is null)
            {
                return true;
            }

            if (repository is null || repository.Split('/') is not [var owner, var name])
            {
                return false;
            }

            return string.Equals(owner, Owner, StringComparison.OrdinalIgnoreCase)
                && (Name is null || string.Equals(name, Name, StringComparison.OrdinalIgnoreCase));
        }

        // GitHub owner and repository names: letters, digits, '-', '_', '.'
        private static bool ValidPart(string s) => s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
    }
}
