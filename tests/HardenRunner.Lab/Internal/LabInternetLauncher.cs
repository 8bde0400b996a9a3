using System.Reflection;

namespace HardenRunner.Lab.Internal;

/// <summary>Finds HardenRunner.LabInternet.dll and a dotnet host, and starts it inside the internet namespace.</summary>
internal static class LabInternetLauncher
{
    private const string DllName = "HardenRunner.LabInternet.dll";

    public static string Locate(string? configured)
    {
        var candidates = new List<string>();
        if (!string.IsNullOrEmpty(configured))
        {
            candidates.Add(configured);
        }

        var fromEnvironment = Environment.GetEnvironmentVariable("HR_LAB_INTERNET_DLL");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            candidates.Add(fromEnvironment);
        }

        candidates.Add(Path.Combine(AppContext.BaseDirectory, DllName));
        var built = typeof(LabInternetLauncher).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "HardenRunner.LabInternetPath")?.Value;
        if (!string.IsNullOrEmpty(built))
        {
            candidates.Add(built);
        }

        foreach (var candidate in candidates)
        {
            // a runnable framework-dependent app needs its runtimeconfig beside it
            if (File.Exists(candidate) && File.Exists(Path.ChangeExtension(candidate, ".runtimeconfig.json")))
            {
                return Path.GetFullPath(candidate);
            }
        }

        throw new LabException(
            $"cannot find a built {DllName} (with its .runtimeconfig.json); build tests/HardenRunner.LabInternet or set HR_LAB_INTERNET_DLL. Tried:\n  "
            + string.Join("\n  ", candidates));
    }

    public static string DotnetHost()
    {
        var current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet")
        {
            return current;
        }

        var hostPath = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(hostPath) && File.Exists(hostPath))
        {
            return hostPath;
        }

        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrEmpty(root) && File.Exists(Path.Combine(root, "dotnet")))
        {
            return Path.Combine(root, "dotnet");
        }

        return "dotnet";
    }

    public static async Task<LabProcess> StartAsync(
        string internetNetns,
        string dll,
        string configPath,
        string readyFile,
        Action<LabProcess> track,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        var process = LabProcess.Start(
            "ip",
            ["netns", "exec", internetNetns, DotnetHost(), dll, configPath],
            [new("DOTNET_CLI_TELEMETRY_OPTOUT", "1"), new("ASPNETCORE_URLS", null), new("DOTNET_gcServer", "0")],
            null,
            Path.GetDirectoryName(dll));
        track(process);

        var deadline = DateTime.UtcNow + timeout;
        while (!File.Exists(readyFile))
        {
            if (process.HasExited)
            {
                var result = await process.WaitAsync(TimeSpan.FromSeconds(2), cancellationToken).ConfigureAwait(false);
                throw new LabException($"the lab internet exited before it was ready: {process.Description}\n{result}");
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new LabException($"the lab internet was not ready within {timeout}: {process.Description}\n--- stdout ---\n{process.StandardOutput}\n--- stderr ---\n{process.StandardError}");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return process;
    }
}
