using System.Text.Json.Nodes;
using HardenRunner.Reporting.Views;

namespace HardenRunner.Tests.Reporting.Views;

public sealed class ActionsAnnotationsTests(ViewFixture fixture) : IClassFixture<ViewFixture>
{
    [Fact]
    public void Detections_AreErrorsAndWarnings_BySeverity()
    {
        var lines = ActionsAnnotations.Render(fixture.Report);
        Assert.Equal(4, lines.Count);
        Assert.StartsWith("::error title=HardenRunner reverse-shell (critical)::sh has its standard input", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("::error title=HardenRunner source-overwritten (high)::", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("::warning title=HardenRunner egress-blocked (medium)::", lines[2], StringComparison.Ordinal);
        Assert.StartsWith("::warning title=HardenRunner sudo-used (low)::sudo was used (step __run)", lines[3], StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewlinesInRecordedText_CannotStartAnotherCommand()
    {
        var report = await fixture.EditedAsync(j => j["detections"]![0]!["summary"] = "x\n::add-mask::secret\r\n::set-env name=A::1 100%");
        var line = ActionsAnnotations.Render(report)[0];
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain('\r', line);
        Assert.Contains("x%0A::add-mask::secret%0D%0A::set-env name=A::1 100%25", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("TRUE", true)]
    [InlineData("false", false)]
    [InlineData(null, false)]
    public void OnlyUnderGitHubActions(string? value, bool expected) =>
        Assert.Equal(expected, ActionsAnnotations.InGitHubActions(n => n == "GITHUB_ACTIONS" ? value : null));

    [Fact]
    public async Task NoDetections_NoAnnotations()
    {
        var report = await fixture.EditedAsync(j => j["detections"] = new JsonArray());
        Assert.Empty(ActionsAnnotations.Render(report));
    }
}
