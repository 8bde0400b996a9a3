using HardenRunner.Policy.Model;
using HardenRunner.Reporting;
using HardenRunner.Store;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Reporting;

/// <summary><c>harden-runner report</c>'s behaviour (the CLI command is a thin wrapper over <see cref="ReportRunner"/>).</summary>
public sealed class ReportRunnerTests : IAsyncLifetime
{
    private StoreFixture _fixture = null!;

    public async Task InitializeAsync()
    {
        _fixture = StoreFixture.Create();
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("older", SampleEvents.T0));
        await _fixture.Store.AppendAsync("older", [SampleEvents.Https(1)]);
        await _fixture.Store.BeginRunAsync(SampleEvents.Run("latest", SampleEvents.T0.AddHours(1), EgressMode.Audit));
        await _fixture.Store.AppendAsync("latest", SampleEvents.OneOfEach());
    }

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task NoRunGiven_RendersTheLatestRun_ToStdout()
    {
        var (code, stdout, stderr) = await RunAsync(new ReportRequest(_fixture.StateDir, null, "json", null));
        Assert.True(code == 0, stderr);
        ReportSchema.AssertValid(stdout);
        Assert.Equal("latest", (string?)ReportSchema.Parse(stdout)["run"]!["id"]);
    }

    [Fact]
    public async Task GivenRun_IsRendered_WhileTheApplianceStillHasTheStoreOpen()
    {
        var (code, stdout, _) = await RunAsync(new ReportRequest(_fixture.StateDir, "older", "json", null));
        Assert.Equal(0, code);
        var report = ReportSchema.Parse(stdout);
        Assert.Equal("older", (string?)report["run"]!["id"]);
        Assert.Single(report["network"]!.AsArray());
    }

    [Fact]
    public async Task OutputFile_IsWrittenPrivate_AndValid()
    {
        var file = Path.Combine(_fixture.StateDir, "out", "r.json");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var (code, stdout, stderr) = await RunAsync(new ReportRequest(_fixture.StateDir, null, "json", file));
        Assert.True(code == 0, stderr);
        Assert.Equal("", stdout);
        ReportSchema.AssertValid(await File.ReadAllTextAsync(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(file)!));
    }

    [Fact]
    public async Task UnknownRun_IsExit2_NamingTheLatestRuns()
    {
        var (code, _, stderr) = await RunAsync(new ReportRequest(_fixture.StateDir, "nope", "json", null));
        Assert.Equal(2, code);
        Assert.Contains("no run 'nope'", stderr, StringComparison.Ordinal);
        Assert.Contains("latest, older", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("markdown", "## HardenRunner: audit mode")]
    [InlineData("html", "<!DOCTYPE html>")]
    [InlineData("sarif", "\"version\": \"2.1.0\"")]
    public async Task ViewFormats_RenderTheLatestRun(string format, string expected)
    {
        var (code, stdout, stderr) = await RunAsync(new ReportRequest(_fixture.StateDir, null, format, null));
        Assert.True(code == 0, stderr);
        Assert.Contains(expected, stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HtmlFormat_ToAFile_IsPrivate()
    {
        var file = Path.Combine(_fixture.StateDir, "r.html");
        var (code, stdout, stderr) = await RunAsync(new ReportRequest(_fixture.StateDir, "older", "html", file));
        Assert.True(code == 0, stderr);
        Assert.Equal("", stdout);
        Assert.Contains("<code>older</code>", await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
    }

    [Fact]
    public async Task UnknownFormat_IsExit2()
    {
        var (code, stdout, stderr) = await RunAsync(new ReportRequest(_fixture.StateDir, null, "pdf", null));
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("--format pdf is not supported", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoStore_IsExit1_AndCreatesNothing()
    {
        var empty = Directory.CreateTempSubdirectory("hr-report-empty-").FullName;
        try
        {
            var (code, _, stderr) = await RunAsync(new ReportRequest(empty, null, "json", null));
            Assert.Equal(1, code);
            Assert.Contains("no store at", stderr, StringComparison.Ordinal);
            Assert.Empty(Directory.GetFileSystemEntries(empty));
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    [Fact]
    public async Task RunReportFile_WritesReportJsonIntoTheStateDirectory()
    {
        var path = await RunReportFile.WriteJsonAsync(_fixture.Store, "latest", _fixture.StateDir);
        Assert.Equal(Path.Combine(_fixture.StateDir, RunReportFile.JsonFileName), path);
        ReportSchema.AssertValid(await File.ReadAllTextAsync(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        await Assert.ThrowsAsync<StoreException>(() => RunReportFile.WriteJsonAsync(_fixture.Store, "missing", _fixture.StateDir));
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(ReportRequest request)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await ReportRunner.RunAsync(request, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
