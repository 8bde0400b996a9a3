using System.Text;
using HardenRunner.Hosting;
using HardenRunner.Policy.Model;
using HardenRunner.Service;

namespace HardenRunner.Tests.Service;

public sealed class JobPolicyTests
{
    private readonly ApplianceOptions _machine = new() { PolicyPath = "/etc/harden-runner/policy.yml", AllowedEndpoints = "example.com:443", StateDir = "/tmp/x" };

    private static EgressMode EffectiveMode(ApplianceOptions o) =>
        PolicyResolution.Load(o, _ => null, "/nonexistent").Policy!.EgressPolicy;

    [Fact]
    public void AJobStarts_InAuditMode_WithTheEmbeddedDefault_AndNeverReadsTheWorkspaceFileItself()
    {
        var workspace = Directory.CreateTempSubdirectory("hr-jobpolicy-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(workspace, ".harden"));
            File.WriteAllText(Path.Combine(workspace, ".harden", "policy.yml"), "egress-policy: block\n");
            var o = JobPolicy.ForJob(_machine, new Dictionary<string, string> { ["GITHUB_WORKSPACE"] = workspace, ["GITHUB_REPOSITORY"] = "o/r" }, "run-1");
            Assert.Null(o.PolicyPath);
            Assert.False(o.PolicyFromWorkspace); // the service puts the file in force in place, once it is stable
            Assert.Equal(EgressMode.Audit, EffectiveMode(o));
            Assert.Equal("run-1", o.RunId);
            Assert.Equal(workspace, o.Workspace);
            Assert.Null(o.AllowedEndpoints); // the machine's additions do not leak into the job
            Assert.Equal("o/r", o.JobEnvironment!["GITHUB_REPOSITORY"]);

            var none = JobPolicy.ForJob(_machine, new Dictionary<string, string>(), "run-2");
            Assert.Null(none.Workspace);
            Assert.Equal(EgressMode.Audit, EffectiveMode(none));
        }
        finally
        {
            Directory.Delete(workspace, recursive: true);
        }
    }

    [Fact]
    public void Load_KeepsTheFilesOwnMode()
    {
        var (block, problems) = JobPolicy.Load("egress-policy: block\nallowed-endpoints:\n  - github.com:443\n"u8.ToArray(), "/w/.harden/policy.yml");
        Assert.Null(problems);
        Assert.Equal(EgressMode.Block, block!.EgressPolicy);
        var (audit, _) = JobPolicy.Load("egress-policy: audit\n"u8.ToArray(), "/w/.harden/policy.yml");
        Assert.Equal(EgressMode.Audit, audit!.EgressPolicy);
    }

    [Fact]
    public void Load_AnInvalidFile_GivesItsProblemsWithTheirPlace_AndNoPolicy()
    {
        var (policy, problems) = JobPolicy.Load("egress-policy: block\nallowed-endpoints:\n  - 'not a host:99999'\n"u8.ToArray(), "/w/.harden/policy.yml");
        Assert.Null(policy);
        Assert.Contains("/w/.harden/policy.yml:3:", problems, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_BytesThatAreNotUtf8_AreRefused()
    {
        var (policy, problems) = JobPolicy.Load([0x65, 0x67, 0xff, 0xfe, 0x0a], "/w/.harden/policy.yml");
        Assert.Null(policy);
        Assert.Contains("not UTF-8", problems, StringComparison.Ordinal);
    }

    [Fact]
    public void WorkerEnvironment_KeepsOnlyJobValues()
    {
        var block = Encoding.UTF8.GetBytes("GITHUB_WORKSPACE=/w\0GITHUB_TOKEN=ghs_secret\0AWS_SECRET_ACCESS_KEY=x\0GITHUB_REPOSITORY=o/r\0PATH=/bin\0broken\0");
        var env = JobEnvironment.Parse(block);
        Assert.Equal(new Dictionary<string, string> { ["GITHUB_WORKSPACE"] = "/w", ["GITHUB_REPOSITORY"] = "o/r" }, env);
    }
}
