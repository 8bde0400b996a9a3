using System.Globalization;

namespace HardenRunner.Lab;

/// <summary>How a lab process ended. <see cref="ToString"/> is made for assertion messages.</summary>
public sealed record LabProcessResult(int ExitCode, string StandardOutput, string StandardError, bool TimedOut, TimeSpan Elapsed)
{
    public bool Succeeded => !TimedOut && ExitCode == 0;

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"exit={ExitCode}{(TimedOut ? " (timed out, killed)" : "")} after {Elapsed.TotalMilliseconds:F0} ms\n--- stdout ---\n{Tail(StandardOutput)}\n--- stderr ---\n{Tail(StandardError)}");

    private static string Tail(string text) => text.Length <= 4000 ? text : "…" + text[^4000..];
}
