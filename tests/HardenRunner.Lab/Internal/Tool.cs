namespace HardenRunner.Lab.Internal;

/// <summary>Runs a setup command (ip, nsenter, …) and turns any failure into a <see cref="LabException"/>.</summary>
internal static class Tool
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, string? standardInput = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var result = await TryRunAsync(fileName, arguments, standardInput, timeout, cancellationToken).ConfigureAwait(false);
        if (!result.Result.Succeeded)
        {
            var input = standardInput is null ? "" : $"\n--- stdin ---\n{standardInput}";
            throw new LabException($"lab setup command failed: {result.Description}\n{result.Result}{input}");
        }

        return result.Result.StandardOutput;
    }

    public static async Task<(string Description, LabProcessResult Result)> TryRunAsync(string fileName, IEnumerable<string> arguments, string? standardInput = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        await using var process = LabProcess.Start(fileName, arguments, null, standardInput, null);
        var result = await process.WaitAsync(timeout ?? DefaultTimeout, cancellationToken).ConfigureAwait(false);
        return (process.Description, result);
    }

    /// <summary>Quotes a value for /bin/sh.</summary>
    public static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
