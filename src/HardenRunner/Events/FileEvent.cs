namespace HardenRunner.Events;

/// <summary>
/// A file in the watched workspace changed. <paramref name="Operation"/> is one of <see cref="Create"/>,
/// <see cref="Modify"/>, <see cref="Delete"/>, <see cref="Rename"/>; <paramref name="Tracked"/> is true when the file
/// is tracked by the repository (a tracked source file overwritten during the build is suspicious).
/// </summary>
public sealed record FileEvent(
    DateTimeOffset Time,
    string Path,
    string Operation,
    bool Tracked,
    ProcessInfo? Process = null,
    StepInfo? Step = null) : ApplianceEvent(Time)
{
    public const string Create = "create";
    public const string Modify = "modify";
    public const string Delete = "delete";
    public const string Rename = "rename";

    /// <summary>True for the four operations of DESIGN §5.</summary>
    public static bool IsKnownOperation(string operation) =>
        operation is Create or Modify or Delete or Rename;
}
