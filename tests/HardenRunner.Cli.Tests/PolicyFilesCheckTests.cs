using System.Text.RegularExpressions;

namespace HardenRunner.Cli.Tests;

/// <summary>
/// Issue #2's CI check: <c>harden-runner policy check FILE</c> on every policy shipped under <c>policies/</c> exits 0 and
/// prints the one-line summary, with nothing on stderr. A file added there that does not pass fails its own case.
/// </summary>
public sealed partial class PolicyFilesCheckTests
{
    private static readonly string PoliciesDir = Path.Combine(RepositoryRoot(), "policies");

    /// <summary>Every .yml (and .yaml) under policies/, relative to it, in a stable order.</summary>
    public static TheoryData<string> ShippedPolicies
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var f in PolicyFiles())
            {
                data.Add(Path.GetRelativePath(PoliciesDir, f).Replace('\\', '/'));
            }

            return data;
        }
    }

    [Fact]
    public void PoliciesFolder_IsFound_AndHoldsThePresetAndTheExamples()
    {
        // guards the theory below against passing vacuously (a moved folder, a changed extension)
        var files = PolicyFiles().Select(f => Path.GetRelativePath(PoliciesDir, f).Replace('\\', '/')).ToList();
        Assert.Contains("presets/github-actions.yml", files);
        Assert.Contains("examples/node-build.yml", files);
        Assert.True(files.Count >= 5, string.Join(", ", files));
    }

    [Theory]
    [MemberData(nameof(ShippedPolicies))]
    public void PolicyCheck_OnEveryShippedPolicy_ExitsZero_WithTheOneLineSummary(string relativePath)
    {
        var path = Path.Combine(PoliciesDir, relativePath);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var code = Program.Run(["policy", "check", path], stdout, stderr);

        Assert.True(code == 0, $"policy check {relativePath} exited {code}:\n{stderr}");
        Assert.Equal("", stderr.ToString());
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith(path + ": valid: ", line, StringComparison.Ordinal);
        Assert.Matches(Summary(), line[(path.Length + 2)..]);
    }

    [GeneratedRegex(@"^valid: (block|audit) mode, \d+ endpoint\(s\) \(\d+ from presets\), \d+ CIDR\(s\), \d+ host rule set\(s\), \d+ passthrough host\(s\)$")]
    private static partial Regex Summary();

    private static IEnumerable<string> PolicyFiles() =>
        Directory.EnumerateFiles(PoliciesDir, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "HardenRunner.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("no HardenRunner.sln above " + AppContext.BaseDirectory);
    }
}
