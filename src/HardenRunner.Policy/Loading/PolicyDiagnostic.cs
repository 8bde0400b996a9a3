using HardenRunner.Policy.Model;

namespace HardenRunner.Policy.Loading;

public enum DiagnosticSeverity
{
    Error,
    Warning,
}

/// <summary>A problem in a policy file, with the place a user must look at.</summary>
public sealed record PolicyDiagnostic(SourceLocation Location, DiagnosticSeverity Severity, string Message)
{
    public override string ToString() =>
        $"{Location}: {(Severity == DiagnosticSeverity.Error ? "error" : "warning")}: {Message}";
}

/// <summary>The outcome of loading a policy: the document when it is valid, and every problem found.</summary>
public sealed record PolicyLoadResult(PolicyDocument? Policy, IReadOnlyList<PolicyDiagnostic> Diagnostics)
{
    public bool Success => Policy is not null && !Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error);

    public IEnumerable<PolicyDiagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);
}
