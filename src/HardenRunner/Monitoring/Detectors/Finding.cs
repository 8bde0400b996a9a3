namespace HardenRunner.Monitoring.Detectors;

/// <summary>
/// What a detector found, before the monitor attaches the process and step: <see cref="Pid"/> is the process
/// responsible (0 when none); findings with the same <see cref="Key"/> are reported once.
/// </summary>
internal sealed record Finding(string Type, string Severity, string Summary, IReadOnlyDictionary<string, string> Evidence, int Pid, string Key);

/// <summary>An exec as the detectors see it: the captured process and, for shells and netcat-like tools, the socket inodes behind stdin/stdout (0 when not a socket).</summary>
internal sealed record ExecObservation(ProcessEntry Process, ulong StdinSocket, ulong StdoutSocket, DateTimeOffset Time);
