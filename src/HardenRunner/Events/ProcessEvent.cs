namespace HardenRunner.Events;

/// <summary>
/// A process was started (exec). <paramref name="Start"/> is the process's start time, <paramref name="Time"/> when it
/// was seen; <paramref name="Exe"/> and <paramref name="Cmdline"/> are null when the process was gone before they could
/// be read. <paramref name="Step"/> is the workflow step it belongs to, when known.
/// </summary>
public sealed record ProcessEvent(
    DateTimeOffset Time,
    int Pid,
    int Ppid,
    string? Exe,
    string? Cmdline,
    DateTimeOffset Start,
    int Uid,
    int Euid,
    StepInfo? Step = null) : ApplianceEvent(Time);
