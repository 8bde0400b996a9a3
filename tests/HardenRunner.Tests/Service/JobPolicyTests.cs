using System.Text;
using HardenRunner.Hosting;
using HardenRunner.Policy.Model;
using HardenRunner.Service;

namespace HardenRunner.Tests.Service;

public sealed class JobPolicyTests : IDisposable
{
    private readonly string _workspace = Directory.CreateTempSubdirectory("hr-jobpolicy-").FullName;
    private readonly ApplianceOptions _machine = new() { PolicyPath = "/etc/harden-runner/policy.yml", AllowedEndpoints = "example.com:443", StateDir = "/tmp/x" };

    public void Dispose() => Directory.Delete(_workspace, recursive: true);

    private Dictionary<string, string> Env() => new() { ["GITHUB_WORKSPACE"] = _workspace, ["GITHUB_REPOSITORY"] = "o/r" };

    private void WritePolicy(string yaml)
    {
        Directory.CreateDirectory(Path.Combine(_workspace, ".harden"));
        File.WriteAllText(Path.Combine(_workspace, ".harden", "policy.yml"), yaml);
    }

    private static EgressMode EffectiveMode(ApplianceOptions o) =>
        PolicyResolution.Load(o, _ => null, "/nonexistent").Policy!.EgressPolicy;

    [Fact]
    public void BlockPolicyInWorkspace_IsEnforced()
    {
        WritePolicy("egress-policy: block\nallowed-endpoints:\n  - github.com:443\n");
        var o = JobPolicy.ForJob(_machine, Env(), "run-1");
        Assert.Equal(Path.Combine(_workspace, ".harden", "policy.yml"), o.PolicyPath);
        Assert.Equal(EgressMode.Block, EffectiveMode(o));
        Assert.Equal("run-1", o.RunId);
        Assert.Equal(_workspace, o.Workspace);
        Assert.Null(o.AllowedEndpoints); // the machine's additions do not leak into the job
        Assert.Equal("o/r", o.JobEnvironment!["GITHUB_REPOSITORY"]);
        Assert.Empty(o.StartupNotices);
    }

    [Fact]
    public void AuditPolicy_IsAudit()
    {
        WritePolicy("egress-policy: audit\n");
        var o = JobPolicy.ForJob(_machine, Env(), "run-1");
        Assert.Equal(EgressMode.Audit, EffectiveMode(o));
    }

    [Fact]
    public void NoPolicyFile_OrNoWorkspace_IsAudit_WithTheEmbeddedDefault()
    {
        var o = JobPolicy.ForJob(_machine, Env(), "run-1");
        Assert.Null(o.PolicyPath);
        Assert.Equal(EgressMode.Audit, EffectiveMode(o));
        var none = JobPolicy.ForJob(_machine, new Dictionary<string, string>(), "run-2");
        Assert.Null(none.PolicyPath);
        Assert.Null(none.Workspace);
        Assert.Equal(EgressMode.Audit, EffectiveMode(none));
    }

    [Fact]
    public void InvalidPolicyFile_IsAudit_WithANotice()
    {
        WritePolicy("egress-policy: block\nallowed-endpoints:\n  - 'not a host:99999'\n");
        var o = JobPolicy.ForJob(_machine, Env(), "run-1");
        Assert.Null(o.PolicyPath);
        Assert.Equal(EgressMode.Audit, EffectiveMode(o));
        var notice = Assert.Single(o.StartupNotices);
        Assert.Contains("invalid", notice, StringComparison.Ordinal);
        Assert.Contains("policy.yml", notice, StringComparison.Ordinal);
    }

    [Fact]
    public void WorkerEnvironment_KeepsOnlyJobValues()
    {
        var block = Encoding.UTF8.GetBytes("GITHUB_WORKSPACE=/w\0GITHUB_TOKEN=ghs_secret\0AWS_SECRET_ACCESS_KEY=x\0GITHUB_REPOSITORY=o/r\0PATH=/bin\0broken\0");
        var env = JobEnvironment.Parse(block);
        Assert.Equal(new Dictionary<string, string> { ["GITHUB_WORKSPACE"] = "/w", ["GITHUB_REPOSITORY"] = "o/r" }, env);
    }
}
