using HardenRunner.Lab;

namespace HardenRunner.Tests.TestSupport;

/// <summary>
/// The first line of every test that builds a lab (also compiled into the end-to-end tests). Where the lab can run
/// (Linux, root) it does nothing. Elsewhere the test is skipped with the reason — except with CI=true (.ci/run sets
/// it, and CI runs as root): there it fails with the reason, so a CI that lost root is red rather than green with
/// every lab test skipped. The browser, SARIF and fleet tests treat what CI installs the same way.
/// </summary>
internal static class LabRequirement
{
    public static void SkipUnlessAvailable()
    {
        if (!LabEnvironment.CanRun && LabEnvironment.InCi)
        {
            Assert.Fail($"CI=true, but {LabEnvironment.SkipReason}: in CI the lab tests must run, not skip");
        }

        Skip.IfNot(LabEnvironment.CanRun, LabEnvironment.SkipReason);
    }
}
