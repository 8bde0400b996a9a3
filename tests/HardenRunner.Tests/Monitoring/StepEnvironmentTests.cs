using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

/// <summary><see cref="ProcessReader.ReadStepEnvironment"/>: what an unreadable or a missing environment gives.</summary>
public class StepEnvironmentTests
{
    [SkippableFact]
    public void AnEnvironmentThisProcessMayNotRead_NamesNoStep_ForGood_AndAGoneProcessStaysUnknown()
    {
        // pid 1 of a sandbox in another user namespace (this machine's, and CI's): root gets EACCES on its environ
        var denied = false;
        try
        {
            using var _ = File.OpenRead("/proc/1/environ");
        }
        catch (UnauthorizedAccessException)
        {
            denied = true;
        }

        Skip.IfNot(denied, "/proc/1/environ is readable here: no process to be refused by");
        Assert.Equal(StepEnvironment.Absent, ProcessReader.ReadStepEnvironment(1));
        Assert.Equal(StepEnvironment.Unknown, ProcessReader.ReadStepEnvironment(4_190_077)); // no such process
        Assert.NotEqual(StepEnvState.Unknown, ProcessReader.ReadStepEnvironment(Environment.ProcessId).State); // readable: read
    }
}
