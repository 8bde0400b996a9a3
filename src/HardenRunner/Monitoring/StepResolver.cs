using HardenRunner.Events;

namespace HardenRunner.Monitoring;

/// <summary>
/// A process's workflow step: the nearest process, itself first, then its parents, whose environment has
/// GITHUB_ACTION (and GITHUB_ACTION_REPOSITORY for <c>uses:</c> steps). Each process's environment is read at most
/// once (at exec, or here on first use) and the result kept in its table entry. Null when no such process is found:
/// unknown stays unknown.
/// </summary>
internal sealed class StepResolver(ProcessTable table, AncestryResolver ancestry)
{
    public StepInfo? Resolve(int pid)
    {
        var self = ancestry.Find(pid);
        if (self is null)
        {
            return null;
        }

        var step = StepOf(self);
        if (step is not null)
        {
            return step;
        }

        foreach (var parent in ancestry.Parents(pid))
        {
            step = StepOf(parent);
            if (step is not null)
            {
                return step;
            }
        }

        return null;
    }

    /// <summary>The step named by this entry's own environment, reading (and caching) it when not yet known.</summary>
    public StepInfo? StepOf(ProcessEntry entry)
    {
        var env = entry.StepEnv;
        if (env.State == StepEnvState.Unknown && entry.Exited is null)
        {
            env = ProcessReader.ReadStepEnvironment(entry.Pid);
            if (env.State != StepEnvState.Unknown)
            {
                var read = env;
                table.Update(entry.Pid, e => e.Start == entry.Start ? e with { StepEnv = read } : e);
            }
        }

        return env.State == StepEnvState.Present ? new StepInfo(env.Action, env.Uses) : null;
    }
}
