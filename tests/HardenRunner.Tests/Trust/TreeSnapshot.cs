using System.Security.Cryptography;

namespace HardenRunner.Tests.Trust;

/// <summary>Every entry under a directory: type, mode, link target or SHA-256 of the content (links are not followed).</summary>
internal static class TreeSnapshot
{
    public static SortedDictionary<string, string> Take(string directory)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in Directory.EnumerateFileSystemEntries(directory, "*", new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = 0,
            IgnoreInaccessible = false,
        }))
        {
            var relative = Path.GetRelativePath(directory, path);
            var info = new FileInfo(path);
            if (info.LinkTarget is { } target)
            {
                entries[relative] = $"link -> {target}"; // often dangling in a test root (absolute targets)
                continue;
            }

            var mode = Convert.ToString((int)File.GetUnixFileMode(path), 8);
            entries[relative] = Directory.Exists(path)
                ? $"dir {mode}"
                : $"file {mode} {Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)))}";
        }

        return entries;
    }

    /// <summary>Asserts both snapshots are equal, naming the entries that differ.</summary>
    public static void AssertSame(SortedDictionary<string, string> expected, SortedDictionary<string, string> actual)
    {
        var differences = expected.Keys.Union(actual.Keys)
            .Where(k => expected.GetValueOrDefault(k) != actual.GetValueOrDefault(k))
            .Select(k => $"{k}: {expected.GetValueOrDefault(k) ?? "(absent)"} => {actual.GetValueOrDefault(k) ?? "(absent)"}")
            .ToList();
        Assert.True(differences.Count == 0, "the tree changed:\n" + string.Join('\n', differences));
    }
}
