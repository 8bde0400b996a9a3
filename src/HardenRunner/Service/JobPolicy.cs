using System.Text;
using HardenRunner.Hosting;
using HardenRunner.Policy.Loading;
using HardenRunner.Policy.Model;

namespace HardenRunner.Service;

/// <summary>
/// The appliance options for one job in service mode, and the job's own policy file. A job's run starts in audit mode
/// with the embedded default (the workspace is usually empty then: the file arrives with the job's checkout); the
/// service puts the job's <c>.harden/policy.yml</c> in force in place once it appears (<see cref="JobPolicyWatcher"/>,
/// <see cref="Load"/>). The machine's <c>--policy</c>, <c>--allowed-endpoints</c> and <c>--egress-policy</c> do not
/// apply to jobs.
/// </summary>
public static class JobPolicy
{
    /// <summary>The job's policy file, relative to its workspace.</summary>
    public const string RelativePath = ".harden/policy.yml";

    /// <summary>The largest policy file read; a larger one is refused.</summary>
    public const int MaxBytes = 1024 * 1024;

    public static ApplianceOptions ForJob(ApplianceOptions machine, IReadOnlyDictionary<string, string> jobEnvironment, string runId)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(jobEnvironment);
        var workspace = jobEnvironment.GetValueOrDefault("GITHUB_WORKSPACE");
        return machine with
        {
            RunId = runId,
            JobEnvironment = jobEnvironment,
            Workspace = string.IsNullOrEmpty(workspace) ? null : workspace,
            PolicyPath = null,
            AllowedEndpoints = null,
            EgressOverride = EgressMode.Audit,
            // the session never reads the workspace's file itself: the service does, and switches it in place
            PolicyFromWorkspace = false,
        };
    }

    /// <summary>
    /// Parses the job's policy file as written (its own egress mode). An invalid file gives its problems
    /// (<c>line:column</c> each) and no policy: the job stays in audit mode — the machine cannot tell what the job
    /// meant to allow, and blocking every job whose file has a typo would take the host's CI down.
    /// </summary>
    public static (PolicyDocument? Policy, string? Problems) Load(byte[] content, string path)
    {
        ArgumentNullException.ThrowIfNull(content);
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(content);
        }
        catch (DecoderFallbackException)
        {
            return (null, $"{path}: the file is not UTF-8 text");
        }

        var load = PolicyLoader.Parse(text, path);
        return load.Success
            ? (load.Policy, null)
            : (null, string.Join("; ", load.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString())));
    }
}
