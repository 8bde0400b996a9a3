namespace HardenRunner.Monitoring;

/// <summary>Whether a process's environment named a workflow step.</summary>
internal enum StepEnvState
{
    /// <summary>Not read, or unreadable (the process was gone).</summary>
    Unknown,

    /// <summary>Read, and has no GITHUB_ACTION.</summary>
    Absent,

    /// <summary>Read, and has GITHUB_ACTION.</summary>
    Present,
}

/// <summary>The step variables found in one process's environment (nothing else of it is kept).</summary>
internal readonly record struct StepEnvironment(StepEnvState State, string? Action, string? Uses)
{
    public static readonly StepEnvironment Unknown = new(StepEnvState.Unknown, null, null);
    public static readonly StepEnvironment Absent = new(StepEnvState.Absent, null, null);
}

/// <summary>
/// What the monitor knows about one process (immutable; the table replaces entries). <see cref="Execed"/> is false for
/// a forked child that has not exec'd (it runs its parent's program, whose exe and command line it carries) and for a
/// process found by walking ancestry in /proc. <see cref="Uid"/>/<see cref="Euid"/> are -1 when unknown.
/// </summary>
internal sealed record ProcessEntry(
    int Pid,
    int Ppid,
    string? Exe,
    string? Cmdline,
    string? Comm,
    int Uid,
    int Euid,
    DateTimeOffset Start,
    StepEnvironment StepEnv,
    bool Execed)
{
    /// <summary>When the process exited; null while it runs.</summary>
    public DateTimeOffset? Exited { get; init; }

    /// <summary>Name used to recognise a program: the executable's file name, else the kernel's comm.</summary>
    public string Name => Exe is { Length: > 0 } ? CommandLine.BaseName(Exe) : Comm ?? "";
}
