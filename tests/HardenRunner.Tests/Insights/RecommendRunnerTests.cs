using HardenRunner.Events;
using HardenRunner.Insights;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;
using HardenRunner.Tests.Reporting;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Insights;

/// <summary><c>harden-runner recommend</c> (the CLI command is a thin wrapper over <see cref="RecommendRunner"/>).</summary>
public sealed class RecommendRunnerTests : IAsyncLifetime
{
    private StoreFixture _fixture = null!;

    public async Task InitializeAsync()
    {
        _fixture = StoreFixture.Create();
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("first", SampleEvents.T0, EgressMode.Audit));
        await _fixture.Store.AppendAsync("first", [SampleEvents.Https(1) with { Host = "registry.npmjs.org" }]);
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("other-job", SampleEvents.T0.AddMinutes(30), job: "deploy"));
        await _fixture.Store.AppendAsync("other-job", [SampleEvents.Https(2) with { Host = "deploy.example.com" }]);
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("second", SampleEvents.T0.AddHours(1), EgressMode.Audit));
        await _fixture.Store.AppendAsync("second",
        [
            SampleEvents.Https(3),
            SampleEvents.Https(4) with
            {
                Host = "api.github.com",
                Method = "GET",
                Path = "/repos/acme/web/contents/x",
                GitHub = new GitHubCall(GitHubCall.InstallationToken, 200, null, null),
            },
        ]);
    }

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(RecommendRequest request)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await RecommendRunner.RunAsync(request, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Latest_IsRecommendedWithTheJobsEarlierRuns_NotOtherJobs()
    {
        var (code, stdout, stderr) = await RunAsync(new RecommendRequest(_fixture.StateDir, null, null, null));
        Assert.True(code == 0, stderr);
        Assert.True(PolicyLoader.Parse(stdout, "out").Success, stdout);
        Assert.Contains("from 2 run(s) of acme/web / ci / build: second, first", stdout, StringComparison.Ordinal);
        Assert.Contains("\"registry.npmjs.org:443\"  # 1 of 2 run(s)", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("deploy.example.com", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Runs_LimitsTheHistory_AndRunPicksTheStart()
    {
        var (_, latestOnly, _) = await RunAsync(new RecommendRequest(_fixture.StateDir, null, 1, null));
        Assert.DoesNotContain("registry.npmjs.org", latestOnly, StringComparison.Ordinal);
        var (_, first, _) = await RunAsync(new RecommendRequest(_fixture.StateDir, "first", null, null));
        Assert.Contains("from 1 run(s)", first, StringComparison.Ordinal);
        Assert.DoesNotContain("api.github.com", first, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Permissions_PrintsTheTokenBlock()
    {
        var (code, stdout, _) = await RunAsync(new RecommendRequest(_fixture.StateDir, null, null, null, Permissions: true));
        Assert.Equal(0, code);
        Assert.Contains("permissions:\n  contents: read  # GET api.github.com/repos/acme/web/contents/x", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Output_IsWrittenPrivately()
    {
        var path = Path.Combine(_fixture.StateDir, "out", "policy.yml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var (code, stdout, stderr) = await RunAsync(new RecommendRequest(_fixture.StateDir, null, null, path));
        Assert.True(code == 0, stderr);
        Assert.Empty(stdout);
        Assert.True(PolicyLoader.Parse(await File.ReadAllTextAsync(path), path).Success);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Theory]
    [InlineData("nope", null, false, 2, "no run 'nope'")]
    [InlineData(null, 0, false, 2, "--runs must be at least 1")]
    [InlineData(null, null, true, 1, "no store at")]
    public async Task BadInput_HasTheContractExitCode(string? run, int? runs, bool emptyStateDir, int expected, string message)
    {
        var dir = emptyStateDir ? Path.Combine(_fixture.StateDir, "empty") : _fixture.StateDir;
        var (code, _, stderr) = await RunAsync(new RecommendRequest(dir, run, runs, null));
        Assert.Equal(expected, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }
}
