using System.Text.Json;
using HardenRunner.Control;
using HardenRunner.Reporting;
using HardenRunner.Store;
using HardenRunner.Tests.Store;

namespace HardenRunner.Tests.Reporting;

/// <summary><c>report --live</c> against a real control socket and a real store whose run is still going.</summary>
public sealed class LiveReportTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("hr-live-report-").FullName;
    private SqliteEventStore? _store;
    private StoreEventSink? _sink;
    private ControlServer? _control;

    public async Task InitializeAsync()
    {
        _store = SqliteEventStore.Open(SqliteEventStore.PathIn(_dir));
        await _store.BeginRunAsync(SampleEvents.Run("live-run"));
        _sink = new StoreEventSink(_store, "live-run");
        var live = new LiveReport(_store, _sink, "live-run", _dir, _ => null);
        _control = new ControlServer(Path.Combine(_dir, ControlClient.SocketFileName), (command, ct) => live.AnswerAsync(command, ct));
    }

    public async Task DisposeAsync()
    {
        await _control!.DisposeAsync();
        await _sink!.DisposeAsync();
        await _store!.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static async Task<(int Code, string Out, string Err)> ReportAsync(ReportRequest request)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await ReportRunner.RunAsync(request, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task TheRunSoFar_IsRendered_WithEveryEventPublishedBeforeTheRequest()
    {
        foreach (var e in SampleEvents.OneOfEach())
        {
            _sink!.Publish(e);
        }

        // no wait for the sink: the live report waits for what was published before it was asked for
        var (code, output, err) = await ReportAsync(new ReportRequest(_dir, null, ReportRunner.JsonFormat, null, Live: true));
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output);
        Assert.Equal("live-run", json.RootElement.GetProperty("run").GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("run").GetProperty("endedAt").ValueKind);
        Assert.Equal(3, json.RootElement.GetProperty("network").GetArrayLength());
        Assert.Single(json.RootElement.GetProperty("detections").EnumerateArray());

        var file = Path.Combine(_dir, "out", "report.html");
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        (code, _, err) = await ReportAsync(new ReportRequest(_dir, null, ReportRunner.HtmlFormat, file, Live: true));
        Assert.True(code == 0, err);
        var html = await File.ReadAllTextAsync(file);
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("live-run", html, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
    }

    [Fact]
    public async Task AnUnknownFormatAskedOverTheSocket_IsAClearError()
    {
        var reply = await ControlClient.SendAsync(_dir, "report pdf", TimeSpan.FromSeconds(10));
        Assert.NotNull(reply);
        using var json = JsonDocument.Parse(reply);
        Assert.Contains("unknown report format 'pdf'", json.RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveWithARunOrAStore_IsAUsageError_AndWithoutAnAppliance_AFailureThatSaysWhy()
    {
        var (code, _, err) = await ReportAsync(new ReportRequest(_dir, "other", ReportRunner.JsonFormat, null, Live: true));
        Assert.Equal(2, code);
        Assert.Contains("leave out --run", err, StringComparison.Ordinal);

        var empty = Directory.CreateTempSubdirectory("hr-live-none-").FullName;
        try
        {
            (code, _, err) = await ReportAsync(new ReportRequest(empty, null, ReportRunner.HtmlFormat, null, Live: true));
            Assert.Equal(1, code);
            Assert.Contains("no running appliance answered", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }
}
