using HardenRunner.Events;

namespace HardenRunner.Reporting;

/// <summary>
/// Returns a copy of an event with every free-text field passed through <see cref="SecretRedactor"/>: host names and
/// request paths, rule texts, command lines and executables (of the process and its ancestors), file paths, step
/// names, detection summaries and evidence (values under secret-looking keys are hidden whole). Sinks that write
/// events anywhere (store, log) call this first. Events of other types are returned unchanged.
/// </summary>
public static class EventRedactor
{
    // one attribution (a ProcessInfo) is shared by every event of a connection or a burst of DNS queries: its redacted
    // copy is made once and kept while the original lives (keyed by reference; records are immutable)
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ProcessInfo, ProcessInfo> RedactedProcesses = [];

    public static ApplianceEvent Redact(ApplianceEvent e) => e switch
    {
        NetworkEvent n => n with
        {
            Host = SecretRedactor.RedactOrNull(n.Host),
            Path = SecretRedactor.RedactOrNull(n.Path),
            Rule = SecretRedactor.Redact(n.Rule),
            Process = Redact(n.Process),
            Step = Redact(n.Step),
            GitHub = Redact(n.GitHub),
        },
        DetectionEvent d => d with
        {
            Summary = SecretRedactor.Redact(d.Summary),
            Evidence = RedactEvidence(d.Evidence),
            Process = Redact(d.Process),
            Step = Redact(d.Step),
        },
        ProcessEvent p => p with
        {
            Exe = SecretRedactor.RedactOrNull(p.Exe),
            Cmdline = SecretRedactor.RedactOrNull(p.Cmdline),
            Step = Redact(p.Step),
        },
        FileEvent f => f with
        {
            Path = SecretRedactor.Redact(f.Path),
            Process = Redact(f.Process),
            Step = Redact(f.Step),
        },
        _ => e,
    };

    public static ProcessInfo? Redact(ProcessInfo? p) => p is null ? null : RedactedProcesses.GetValue(p, RedactUncached);

    private static ProcessInfo RedactUncached(ProcessInfo p)
    {
        var redacted = new ProcessInfo(
            p.Pid,
            SecretRedactor.RedactOrNull(p.Exe),
            SecretRedactor.RedactOrNull(p.Cmdline),
            [.. p.Ancestors.Select(a => a with { Exe = SecretRedactor.RedactOrNull(a.Exe) })])
        {
            Container = p.Container is not { } c ? null : c with
            {
                Name = SecretRedactor.RedactOrNull(c.Name),
                PodNamespace = SecretRedactor.RedactOrNull(c.PodNamespace),
            },
        };

        // redacting the copy again gives the copy (the redactor's output is a fixed point)
        RedactedProcesses.TryAdd(redacted, redacted);
        return redacted;
    }

    /// <summary>GraphQL field names are identifiers, and identifiers can spell a token: every text passes the redactor.</summary>
    public static GitHubCall? Redact(GitHubCall? g) => g is null
        ? null
        : g with
        {
            AcceptedPermissions = SecretRedactor.RedactOrNull(g.AcceptedPermissions),
            GraphQl = g.GraphQl is not { } q ? null : q with
            {
                Fields = [.. q.Fields.Select(SecretRedactor.Redact)],
                Repositories = [.. q.Repositories.Select(SecretRedactor.Redact)],
                Error = SecretRedactor.RedactOrNull(q.Error),
            },
        };

    public static StepInfo? Redact(StepInfo? s) => s is null
        ? null
        : new StepInfo(SecretRedactor.RedactOrNull(s.Action), SecretRedactor.RedactOrNull(s.Uses));

    public static IReadOnlyDictionary<string, string> RedactEvidence(IReadOnlyDictionary<string, string> evidence)
    {
        ArgumentNullException.ThrowIfNull(evidence);
        var result = new Dictionary<string, string>(evidence.Count, StringComparer.Ordinal);
        foreach (var (key, value) in evidence)
        {
            var k = SecretRedactor.Redact(key);
            var v = SecretRedactor.RedactNamedValue(key, value);
            result[result.ContainsKey(k) ? k + "#" + result.Count : k] = v;
        }

        return result;
    }
}
