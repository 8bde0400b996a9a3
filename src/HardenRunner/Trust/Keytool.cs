using System.Diagnostics;

namespace HardenRunner.Trust;

/// <summary>Runs the JDK's keytool on a CA keystore (store password "changeit", the JDK default; it is not a secret).</summary>
internal static class Keytool
{
    private const string StorePassword = "changeit";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static void Import(string keytool, string keystore, string alias, string certificatePemPath) =>
        Run(keytool, "-importcert", "-noprompt", "-alias", alias, "-file", certificatePemPath, "-keystore", keystore, "-storepass", StorePassword);

    public static void Delete(string keytool, string keystore, string alias) =>
        Run(keytool, "-delete", "-alias", alias, "-keystore", keystore, "-storepass", StorePassword);

    private static void Run(string keytool, params string[] arguments)
    {
        var start = new ProcessStartInfo(keytool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("JAVA_TOOL_OPTIONS"); // a job could inject agents into our keytool
        start.Environment.Remove("JDK_JAVA_OPTIONS");
        using var process = Process.Start(start) ?? throw new TrustStoreException($"could not start {keytool}");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TrustStoreException($"{keytool} {arguments[0]} did not finish within {Timeout.TotalSeconds:0} s");
        }

        if (process.ExitCode != 0)
        {
            var message = (output.GetAwaiter().GetResult() + error.GetAwaiter().GetResult()).Trim();
            throw new TrustStoreException($"{keytool} {arguments[0]} failed ({process.ExitCode}): {message}");
        }
    }
}
