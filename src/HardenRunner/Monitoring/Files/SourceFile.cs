namespace HardenRunner.Monitoring.Files;

/// <summary>
/// One source file of the workspace and what the monitor knows of it. <see cref="Baseline"/> is the fingerprint when
/// it became source (start, or the inventory refresh that added it); <see cref="Latest"/> the content last seen
/// (null while the path is absent); <see cref="LastContent"/> the last non-null content, so that deleting a file and
/// writing it back unchanged is not an overwrite. Mutated only by the monitor's consumer thread.
/// </summary>
public sealed class SourceFile(string path, string relativePath, string? baseline)
{
    public string Path { get; } = path;

    public string RelativePath { get; } = relativePath;

    public string? Baseline { get; } = baseline;

    public string? Latest { get; internal set; } = baseline;

    public string? LastContent { get; internal set; } = baseline;
}
