using System.Diagnostics;
using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using HardenRunner.Tests.Store;
using PuppeteerSharp;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>
/// Three appliances, each in its own lab (runner namespace) and with its own host name (a UTS namespace per runner),
/// write one job's runs to one PostgreSQL server; <c>harden-runner dashboard --store</c> on the host then lists the
/// three runs with their runner host names, seen in headless Chromium.
/// </summary>
public sealed class FleetDashboardTests
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    [SkippableFact]
    public async Task ThreeAppliances_OneDatabase_TheDashboardListsAllThreeRuns()
    {
        LabRequirement.SkipUnlessAvailable();
        var inCi = string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);
        Skip.If(!File.Exists(ChromiumPath) && !inCi, $"{ChromiumPath} is not installed");
        await using var pg = await PostgresServer.StartAsync();
        var db = await pg.CreateDatabaseAsync();
        var store = pg.SocketUriText(db);
        var labs = new List<TestLab>();
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                var lab = await TestLab.StartAsync(new LabOptions());
                labs.Add(lab);
                var dir = Path.Combine(lab.WorkDirectory, "job");
                Directory.CreateDirectory(Path.Combine(dir, ".harden"));
                await File.WriteAllTextAsync(Path.Combine(dir, ".harden", "policy.yml"), EnforcementCoreTests.Policy);
                var state = Path.Combine(dir, "state");
                var env = new Dictionary<string, string>
                {
                    ["GITHUB_WORKSPACE"] = dir,
                    ["GITHUB_REPOSITORY"] = "acme/web",
                    ["GITHUB_WORKFLOW"] = "ci",
                    ["GITHUB_JOB"] = "build",
                    ["HARDEN_RUNNER_STORE"] = store,
                };

                // the appliance started here keeps this UTS namespace, so its run records host name fleet-runner-i
                var start = await lab.RunInRunnerAsync(
                    "unshare",
                    ["--uts", "sh", "-c", $"hostname fleet-runner-{i} && exec {HardenRunnerBinary.Shell} start --state-dir \"$0\"", state],
                    CommandTimeout,
                    env);
                Assert.True(start.ExitCode == 0, start.ToString());
                Assert.False((await EnforcementCoreTests.SendAsync(lab, "tcp", "198.51.100.20", 9000, EnforcementCoreTests.Unique("fleet-"))).Succeeded);
                var stop = await lab.RunInRunnerAsync(HardenRunnerBinary.FileName, HardenRunnerBinary.Args(["stop", "--state-dir", state]), CommandTimeout, env);
                Assert.True(stop.ExitCode == 0, stop.ToString());
            }
        }
        finally
        {
            foreach (var lab in labs)
            {
                await lab.DisposeAsync();
            }
        }

        using var dashboard = StartDashboard(store, Path.Combine(Path.GetTempPath(), "hr-fleet-dashboard-none"));
        try
        {
            var url = await ReadUrlAsync(dashboard);
            using var profile = new TempProfile();
            await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                UserDataDir = profile.Path,
                Timeout = 60_000,
                ProtocolTimeout = 60_000,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
            });
            await using var page = await browser.NewPageAsync();
            page.DefaultTimeout = 30_000;
            var errors = new List<string>();
            page.Console += (_, e) =>
            {
                if (e.Message.Type == ConsoleType.Error)
                {
                    lock (errors)
                    {
                        errors.Add(e.Message.Text);
                    }
                }
            };
            await page.GoToAsync(url + "/?repository=acme%2Fweb");
            var runners = await page.EvaluateExpressionAsync<string[]>(
                "Array.from(document.querySelectorAll('#tbl-runs tbody tr')).map(r => r.cells[4].textContent)");
            Assert.Equal(["fleet-runner-1", "fleet-runner-2", "fleet-runner-3"], runners.Order(StringComparer.Ordinal));
            await page.GoToAsync(url + "/destinations");
            var jobs = await page.EvaluateExpressionAsync<string>("document.querySelector('#tbl-destinations tbody').textContent");
            Assert.Contains("198.51.100.20:9000", jobs, StringComparison.Ordinal);
            Assert.Contains("acme/web · ci · build", jobs, StringComparison.Ordinal);
            Assert.Empty(errors);
        }
        finally
        {
            if (!dashboard.HasExited)
            {
                dashboard.Kill();
                await dashboard.WaitForExitAsync();
            }
        }
    }

    private static Process StartDashboard(string store, string stateDir)
    {
        var psi = new ProcessStartInfo(HardenRunnerBinary.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in HardenRunnerBinary.Args("dashboard", "--urls", "http://127.0.0.1:0", "--state-dir", stateDir))
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["HARDEN_RUNNER_STORE"] = store;
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the dashboard");
    }

    /// <summary>The dashboard's URL from its first output line ("… on http://127.0.0.1:PORT (…"), waiting at most 60 s.</summary>
    private static async Task<string> ReadUrlAsync(Process dashboard)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await dashboard.StandardOutput.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException("the dashboard exited: " + await dashboard.StandardError.ReadToEndAsync(cts.Token));
        var at = line.IndexOf(" on http://", StringComparison.Ordinal);
        Assert.True(at > 0, line);
        return line[(at + 4)..].Split(' ', ',')[0];
    }

    private sealed class TempProfile : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("hr-fleet-chromium-").FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
