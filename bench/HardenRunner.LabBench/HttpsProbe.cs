using System.Globalization;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.LabBench;

/// <summary>
/// For profiling by hand: starts a lab and the appliance (the https scenario's policy), then runs a bash script inside
/// the runner namespaces with <c>APPLIANCE_PID</c>, <c>LAB_CA</c>, <c>LAB_WORK</c> and <c>SERVER_PID</c> set (e.g. wrk while
/// <c>perf record -p $APPLIANCE_PID</c> runs), prints its output and tears everything down. Bounded by --timeout.
/// </summary>
internal static class HttpsProbe
{
    public static async Task<int> RunAsync(string script, TimeSpan timeout, bool withAppliance, string? applianceDll, TextWriter output)
    {
        if (!LabEnvironment.CanRun)
        {
            await Console.Error.WriteLineAsync("https-probe needs the lab: " + LabEnvironment.SkipReason).ConfigureAwait(false);
            return 2;
        }

        await using var lab = await TestLab.StartAsync(new LabOptions()).ConfigureAwait(false);
        var dir = Path.Combine(lab.WorkDirectory, "probe");
        Directory.CreateDirectory(dir);
        var appliance = new AppliancePath(lab, applianceDll ?? BuildOutput.HardenRunnerDll(), dir);
        if (withAppliance)
        {
            await appliance.StartAsync().ConfigureAwait(false);
        }

        var environment = new Dictionary<string, string>
        {
            ["APPLIANCE_PID"] = appliance.Pid.ToString(CultureInfo.InvariantCulture),
            ["SERVER_PID"] = lab.LabInternetPid.ToString(CultureInfo.InvariantCulture),
            ["LAB_CA"] = lab.CaCertificatePath,
            ["LAB_WORK"] = lab.WorkDirectory,
        };
        var run = await lab.RunInRunnerAsync("bash", [Path.GetFullPath(script)], timeout, environment).ConfigureAwait(false);
        await output.WriteLineAsync(run.StandardOutput).ConfigureAwait(false);
        await output.WriteLineAsync(run.StandardError).ConfigureAwait(false);
        if (withAppliance && await appliance.StopAsync().ConfigureAwait(false) is { } info)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"appliance: peak RSS {info.PeakRssMiB:F1} MiB, RSS at stop {info.RssMiB:F1} MiB, {info.Events} events")).ConfigureAwait(false);
        }

        return run.Succeeded ? 0 : 1;
    }
}
