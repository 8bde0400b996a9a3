using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Tests;

/// <summary>The CI check that every policy shipped under <c>policies/</c> is valid and does what its comments say.</summary>
public sealed class PolicyFilesTests
{
    private static readonly string PoliciesDir = Path.Combine(FindRepoRoot(), "policies");

    /// <summary>Every YAML file under policies/, relative to it.</summary>
    public static TheoryData<string> AllFiles
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

    public static TheoryData<string> Presets
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var f in Directory.EnumerateFiles(Path.Combine(PoliciesDir, "presets"), "*.yml"))
            {
                data.Add(Path.GetFileNameWithoutExtension(f));
            }

            return data;
        }
    }

    [Fact]
    public void PoliciesFolder_HoldsThePresetAndTheExamples()
    {
        var files = PolicyFiles().Select(f => Path.GetRelativePath(PoliciesDir, f).Replace('\\', '/')).ToHashSet();
        Assert.Contains("presets/github-actions.yml", files);
        Assert.Contains("examples/node-build.yml", files);
        Assert.Contains("examples/python-build.yml", files);
        Assert.Contains("examples/dotnet-build.yml", files);
        Assert.Contains("examples/docker-ghcr.yml", files);
    }

    [Theory]
    [MemberData(nameof(AllFiles))]
    public void EveryPolicyFile_LoadsWithoutAnyDiagnostic(string relativePath)
    {
        var path = Path.Combine(PoliciesDir, relativePath);
        var result = PolicyLoader.Parse(File.ReadAllText(path), path, EmbeddedPresets.Instance);

        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        Assert.Empty(result.Diagnostics);
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void EveryPreset_IsValidAsAPresetAndIsEmbeddedAsShipped(string name)
    {
        var text = File.ReadAllText(Path.Combine(PoliciesDir, "presets", name + ".yml"));

        // loaded through extends, so the preset-only key restrictions apply
        var asPreset = PolicyLoader.Parse($"extends: [{name}]\n", "check.yml", new InMemoryPresets(new Dictionary<string, string> { [name] = text }));
        Assert.True(asPreset.Success, string.Join('\n', asPreset.Diagnostics));
        Assert.Empty(asPreset.Diagnostics);
        Assert.NotEmpty(asPreset.Policy!.AllowedEndpoints);

        // the executable carries the presets compiled in: they must be the files in the repository
        Assert.True(EmbeddedPresets.Instance.TryGet(name, out var embedded), $"preset '{name}' is not embedded");
        Assert.Equal(text, embedded);
    }

    [Theory]
    [InlineData("node-build.yml")]
    [InlineData("python-build.yml")]
    [InlineData("dotnet-build.yml")]
    [InlineData("docker-ghcr.yml")]
    public void EveryExample_BlocksAndExtendsTheGitHubActionsPreset(string file)
    {
        var doc = Load("examples/" + file);
        Assert.Equal(EgressMode.Block, doc.EgressPolicy);
        Assert.Equal(["github-actions"], doc.Extends);
    }

    [Theory]
    // the preset: what the runner needs, and nothing a job could upload to at will
    [InlineData("presets/github-actions.yml", "github.com", true)]
    [InlineData("presets/github-actions.yml", "api.github.com", true)]
    [InlineData("presets/github-actions.yml", "codeload.github.com", true)]
    [InlineData("presets/github-actions.yml", "pipelines.actions.githubusercontent.com", true)]
    [InlineData("presets/github-actions.yml", "results-receiver.actions.githubusercontent.com", true)]
    [InlineData("presets/github-actions.yml", "actions-results-receiver-production.githubapp.com", true)]
    [InlineData("presets/github-actions.yml", "productionresultssa12.blob.core.windows.net", true)]
    [InlineData("presets/github-actions.yml", "objects.githubusercontent.com", true)]
    [InlineData("presets/github-actions.yml", "actions.githubusercontent.com", false)]
    [InlineData("presets/github-actions.yml", "attackerstorage.blob.core.windows.net", false)]
    [InlineData("presets/github-actions.yml", "gist.github.com", false)]
    [InlineData("presets/github-actions.yml", "raw.githubusercontent.com", false)]
    [InlineData("examples/node-build.yml", "registry.npmjs.org", true)]
    [InlineData("examples/python-build.yml", "files.pythonhosted.org", true)]
    [InlineData("examples/dotnet-build.yml", "api.nuget.org", true)]
    [InlineData("examples/docker-ghcr.yml", "pkg-containers.githubusercontent.com", true)]
    [InlineData("examples/docker-ghcr.yml", "exfil.test", false)]
    public void ShippedPolicy_ResolvesWhatItSays(string file, string name, bool allowed)
    {
        var engine = new PolicyEngine(Load(file));
        Assert.Equal(allowed, engine.DecideDns(name).IsAllowed);
    }

    [Theory]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/repos/acme/web/issues/3/comments", true)]
    [InlineData("examples/node-build.yml", "api.github.com", "GET", "/repos/someone/lib/tarball/v1", true)]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/repos/evil/drop/issues", false)]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/gists", false)]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/repos/acme/web/hooks", false)]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/repos/acme/web/keys", false)]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/repos/acme/web/../../../gists", false)]
    [InlineData("examples/node-build.yml", "api.github.com", "POST", "/graphql", false)]
    [InlineData("examples/python-build.yml", "pypi.org", "GET", "/simple/requests/", true)]
    [InlineData("examples/python-build.yml", "pypi.org", "GET", "/pypi/requests/json", true)]
    [InlineData("examples/python-build.yml", "pypi.org", "POST", "/simple/requests/", false)]
    [InlineData("examples/dotnet-build.yml", "github.com", "POST", "/someone/lib.git/git-upload-pack", true)]
    [InlineData("examples/dotnet-build.yml", "github.com", "POST", "/acme/web.git/git-receive-pack", true)]
    [InlineData("examples/dotnet-build.yml", "github.com", "POST", "/evil/drop.git/git-receive-pack", false)]
    [InlineData("examples/dotnet-build.yml", "nuget.pkg.github.com", "PUT", "/acme/", true)]
    [InlineData("examples/dotnet-build.yml", "nuget.pkg.github.com", "PUT", "/evil/", false)]
    [InlineData("examples/docker-ghcr.yml", "ghcr.io", "HEAD", "/v2/library/alpine/blobs/sha256:abc", true)]
    [InlineData("examples/docker-ghcr.yml", "ghcr.io", "PUT", "/v2/acme/app/manifests/1.2.3", true)]
    [InlineData("examples/docker-ghcr.yml", "ghcr.io", "POST", "/v2/acme/app/blobs/uploads/", true)]
    [InlineData("examples/docker-ghcr.yml", "ghcr.io", "PUT", "/v2/evil/loot/manifests/latest", false)]
    [InlineData("examples/docker-ghcr.yml", "ghcr.io", "DELETE", "/v2/acme/app/manifests/sha256:abc", false)]
    [InlineData("examples/docker-ghcr.yml", "registry-1.docker.io", "GET", "/v2/library/node/manifests/22", true)]
    [InlineData("examples/docker-ghcr.yml", "registry-1.docker.io", "PUT", "/v2/evil/loot/manifests/latest", false)]
    public void ExampleRules_DoWhatTheirCommentsSay(string file, string host, string method, string path, bool allowed)
    {
        var engine = new PolicyEngine(Load(file));
        var verdict = engine.DecideHttp(host, 443, method, path);
        Assert.True(allowed == verdict.IsAllowed, $"{method} https://{host}{path}: {verdict.DecisionText} by '{verdict.Rule}'");
    }

    private static PolicyDocument Load(string relativePath)
    {
        var path = Path.Combine(PoliciesDir, relativePath);
        var result = PolicyLoader.Parse(File.ReadAllText(path), path, EmbeddedPresets.Instance);
        Assert.True(result.Success, string.Join('\n', result.Diagnostics));
        return result.Policy!;
    }

    private static IEnumerable<string> PolicyFiles() =>
        Directory.EnumerateFiles(PoliciesDir, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".yaml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HardenRunner.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"HardenRunner.sln not found above {AppContext.BaseDirectory}");
    }
}
