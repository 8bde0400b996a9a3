using HardenRunner.EndToEnd.Tests.Support;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.EndToEnd.Tests;

/// <summary>The lab's dumb-HTTP git remote works without the appliance (so a failing appliance test is about the appliance).</summary>
public sealed class LabGitSmokeTests
{
    [SkippableFact]
    public async Task GitLsRemote_OverHttps_AgainstTheLabRemote_ListsMain()
    {
        LabRequirement.SkipUnlessAvailable();
        await using var lab = await TestLab.StartAsync(new LabOptions());
        await LabGit.CreateRepositoryAsync(lab, "acme", "web");
        var r = await lab.RunInRunnerAsync("git", ["-c", "http.sslCAInfo=" + lab.CaCertificatePath, "ls-remote", "https://github.com/git/acme/web.git"], TimeSpan.FromSeconds(20));
        Assert.True(r.Succeeded, r.ToString());
        Assert.Contains("refs/heads/main", r.StandardOutput, StringComparison.Ordinal);
        await lab.HttpLog.WaitForAsync(x => x.Host == "github.com" && x.Path == "/git/acme/web.git/info/refs", TimeSpan.FromSeconds(2));
    }
}
