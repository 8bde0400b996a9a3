namespace HardenRunner.Monitoring.Files;

/// <summary>What happened to a path (fanotify event bits; several may be set when the kernel merged events).</summary>
[Flags]
public enum FileChangeKind : ulong
{
    None = 0,
    Modify = 0x2,
    CloseWrite = 0x8,
    MovedFrom = 0x40,
    MovedTo = 0x80,
    Create = 0x100,
    Delete = 0x200,

    /// <summary>Events were lost (kernel queue overflow, or the watcher's own queue was full). Path is empty.</summary>
    Overflow = 0x4000,
}

/// <summary>
/// One change the watcher kept: when it was read, what happened, the canonical path, the pid of the process that
/// caused it (0 when unknown, e.g. for <see cref="FileChangeKind.Overflow"/>) and whether the object is a directory.
/// <see cref="Process"/> and <see cref="Step"/> are filled in by the reader thread when the watcher was given an
/// attribution (<see cref="FanotifyWatcherOptions.Attribute"/>): as early as possible, while the writer still runs.
/// </summary>
public readonly record struct FileChange(DateTimeOffset Time, FileChangeKind Kind, string Path, int Pid, bool IsDirectory)
{
    public HardenRunner.Events.ProcessInfo? Process { get; init; }

    public HardenRunner.Events.StepInfo? Step { get; init; }

    /// <summary>True when the reader thread looked the writer up (the result may still be unknown).</summary>
    public bool Attributed { get; init; }

    public bool Has(FileChangeKind kind) => (Kind & kind) != 0;
}
