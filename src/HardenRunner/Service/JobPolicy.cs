using HardenRunner.Hosting;
using HardenRunner.Policy.Model;

namespace HardenRunner.Service;

/// <summary>
/// The appliance options for one job in service mode. The job's workspace <c>.harden/policy.yml</c> is enforced when
/// it says <c>egress-policy: block</c>; otherwise the job runs in audit mode (with that file's settings, or the
/// embedded default when there is none). An invalid file never stops the service and never silently blocks
/// everything: the job runs in audit mode with the embedded default and the run records a <c>policy-invalid</c>
/// detection naming the problems (the machine cannot tell what the job meant to allow, and blocking every job whose
/// file has a typo would take the host's CI down; audit still records everything).
/// </summary>
public static class JobPolicy
{
    public static ApplianceOptions ForJob(ApplianceOptions machine, IReadOnlyDictionary<string, string> jobEnvironment, string runId)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(jobEnvironment);
        var workspace = jobEnvironment.GetValueOrDefault("GITHUB_WORKSPACE");
        var baseOptions = machine with
        {
            RunId = runId,
            JobEnvironment = jobEnvironment,
            Workspace = string.IsNullOrEmpty(workspace) ? null : workspace,
            PolicyPath = null,
            AllowedEndpoints = null,
            EgressOverride = EgressMode.Audit,
            PolicyFromWorkspace = true,
            StartupNotices = [],
        };
        if (string.IsNullOrEmpty(workspace))
        {
            return baseOptions;
        }

        var path = Path.Combine(workspace, ".harden", "policy.yml");
        if (!File.Exists(path))
        {
            return baseOptions;
        }

        var candidate = baseOptions with { PolicyPath = path, EgressOverride = null };
        var load = PolicyResolution.Load(candidate, _ => null, workspace);
        if (!load.Success)
        {
            var problems = string.Join("; ", load.Diagnostics.Where(d => d.Severity == Policy.Loading.DiagnosticSeverity.Error).Select(d => d.ToString()));
            return baseOptions with { PolicyFromWorkspace = false, StartupNotices = [$"the job's policy file {path} is invalid, so the job ran in audit mode: {problems}"] };
        }

        return load.Policy!.EgressPolicy == EgressMode.Block ? candidate : candidate with { EgressOverride = EgressMode.Audit };
    }
}
