using HardenRunner.Dashboard;
using HardenRunner.Policy.Model;
using HardenRunner.Reporting.Views;
using HardenRunner.Store;
using HardenRunner.Tests.Reporting.Views;
using PuppeteerSharp;

namespace HardenRunner.Browser.Tests;

/// <summary>
/// Debian's Chromium (<see cref="ChromiumPath"/>) driven over the DevTools protocol (PuppeteerSharp, nothing
/// downloaded), a real SQLite store with recorded runs, the HTML report of one of them written to a file, and a
/// dashboard over the store on a loopback port. Without Chromium the tests are skipped, except in CI (.ci/run installs it).
/// Set HARDEN_RUNNER_SCREENSHOTS=DIR to keep the screenshots (docs/images/ holds the committed ones).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private string _dir = "";
    private SqliteEventStore? _store;

    public IBrowser? Browser { get; private set; }

    public DashboardServer? Dashboard { get; private set; }

    public Uri DashboardBase { get; private set; } = null!;

    public string ReportPath { get; private set; } = "";

    public string ScreenshotDir { get; private set; } = "";

    public static bool Available => File.Exists(ChromiumPath);

    public static void SkipUnlessAvailable()
    {
        var inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        Skip.If(!Available && !inCi, $"{ChromiumPath} is not installed (apt-get install chromium)");
        Assert.True(Available, $"{ChromiumPath} is not installed: .ci/run installs Debian's chromium");
    }

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("hr-browser-").FullName;
        ScreenshotDir = Environment.GetEnvironmentVariable("HARDEN_RUNNER_SCREENSHOTS") is { Length: > 0 } keep ? Path.GetFullPath(keep) : Path.Combine(_dir, "shots");
        Directory.CreateDirectory(ScreenshotDir);

        _store = SqliteEventStore.Open(SqliteEventStore.PathIn(_dir));
        await ViewSampleRun.RecordAsync(_store, "run-web-1", EgressMode.Audit, ViewSampleRun.T0);
        await ViewSampleRun.RecordAsync(_store, "run-api-1", EgressMode.Block, ViewSampleRun.T0.AddHours(1), repository: "acme/api", workflow: "release", job: "publish");
        var latest = await ViewSampleRun.RecordAsync(_store, "run-web-2", EgressMode.Block, ViewSampleRun.T0.AddHours(2));
        await ReportViews.WriteStopReportsAsync(_store, latest.Id, _dir, _ => null);
        ReportPath = Path.Combine(_dir, ReportViews.HtmlFileName);

        Dashboard = await DashboardServer.StartAsync(_store, new DashboardOptions { Urls = ["http://127.0.0.1:0"] });
        DashboardBase = new Uri(Dashboard.Urls[0]);

        if (Available)
        {
            Browser = await Puppeteer.LaunchAsync(new LaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                UserDataDir = Path.Combine(_dir, "chromium-profile"),
                Timeout = 60_000,
                ProtocolTimeout = 60_000,
                Args =
                [
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                ],
            });
        }
    }

    /// <summary>A new 1280×900 page whose console errors, page errors and requests are recorded.</summary>
    public async Task<PageProbe> NewPageAsync()
    {
        var page = await Browser!.NewPageAsync();
        page.DefaultTimeout = 30_000;
        await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 900 });
        return new PageProbe(page);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
            Browser.Dispose();
        }

        if (Dashboard is not null)
        {
            await Dashboard.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A page and what it reported: console errors (CSP violations among them), uncaught errors, every request.</summary>
public sealed class PageProbe : IAsyncDisposable
{
    public PageProbe(IPage page)
    {
        Page = page;
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error)
            {
                lock (Errors)
                {
                    Errors.Add($"console: {e.Message.Text}");
                }
            }
        };
        page.PageError += (_, e) =>
        {
            lock (Errors)
            {
                Errors.Add($"page error: {e.Message}");
            }
        };
        page.Request += (_, e) =>
        {
            lock (Requests)
            {
                Requests.Add(e.Request.Url);
            }
        };
    }

    public IPage Page { get; }

    public List<string> Errors { get; } = [];

    public List<string> Requests { get; } = [];

    public void AssertNoErrors()
    {
        lock (Errors)
        {
            Assert.True(Errors.Count == 0, "the page reported errors:\n" + string.Join("\n", Errors));
        }
    }

    public async ValueTask DisposeAsync() => await Page.CloseAsync();
}
