using HardenRunner.Events;
using HardenRunner.Monitoring.Files;

namespace HardenRunner.Tests.Monitoring.Files;

/// <summary>The appliance's own controls. Stand-in files under /tmp take the roles of /etc/resolv.conf etc.: the host's are never written.</summary>
public sealed class ControlFileMonitorTests : IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    private readonly FileMonitorHarness _h = FileMonitorHarness.Create();
    private readonly string _etc;

    public ControlFileMonitorTests()
    {
        _etc = Path.Combine(_h.Root, "etc");
        Directory.CreateDirectory(Path.Combine(_etc, "sudoers.d"));
        Directory.CreateDirectory(Path.Combine(_etc, "run"));
        File.WriteAllText(Path.Combine(_etc, "run", "stub-resolv.conf"), "nameserver 127.0.0.53\n");
        File.CreateSymbolicLink(Path.Combine(_etc, "resolv.conf"), Path.Combine(_etc, "run", "stub-resolv.conf"));
        File.WriteAllText(Path.Combine(_etc, "ca-certificates.crt"), "-----BEGIN CERTIFICATE-----\n");
    }

    private IReadOnlyList<ControlPath> Controls =>
    [
        ControlPaths.Resolver(Path.Combine(_etc, "resolv.conf")),
        ControlPaths.TrustBundle(Path.Combine(_etc, "ca-certificates.crt")),
        ControlPaths.SudoersDirectory(Path.Combine(_etc, "sudoers.d")),
        ControlPaths.DockerDaemon(Path.Combine(_etc, "docker", "daemon.json")),
    ];

    [SkippableFact]
    public void ResolverConfigWrittenByAStep_ThroughItsSymlink_RaisesResolverTampered()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.Start(o => With(o, Controls));

        Assert.Equal(0, _h.RunStep("dns-step", $"echo 'nameserver 203.0.113.9' > {_etc}/resolv.conf"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == ControlPaths.ResolverTampered, Wait);

        Assert.NotNull(d);
        Assert.Equal("high", d.Severity);
        Assert.Equal("dns-step", d.Step?.Action);
        Assert.Equal(Path.Combine(_etc, "run", "stub-resolv.conf"), d.Evidence["path"]); // the write landed on the target
        Assert.Equal("modified", d.Evidence["change"]);
        Assert.NotNull(d.Process?.Exe);
    }

    [SkippableFact]
    public void TrustBundleReplaced_SudoersDropInCreated_DockerConfigCreatedInANewDirectory_EachDetected()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.Start(o => With(o, Controls));

        Assert.Equal(0, _h.RunStep(
            "tamper",
            $"echo evil > {_etc}/bundle.new && mv {_etc}/bundle.new {_etc}/ca-certificates.crt"
            + $" && echo 'runner ALL=(ALL) NOPASSWD:ALL' > {_etc}/sudoers.d/runner"
            + $" && mkdir {_etc}/docker && echo '{{\"dns\":[\"203.0.113.9\"]}}' > {_etc}/docker/daemon.json"));
        Assert.True(_h.Sync());

        var trust = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == ControlPaths.TrustStoreTampered, Wait);
        Assert.NotNull(trust);
        Assert.Equal("replaced", trust.Evidence["change"]);
        var sudo = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == ControlPaths.SudoersTampered, Wait);
        Assert.NotNull(sudo);
        Assert.Equal(Path.Combine(_etc, "sudoers.d", "runner"), sudo.Evidence["path"]);
        Assert.Equal("created", sudo.Evidence["change"]);
        var docker = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == ControlPaths.DockerConfigTampered, Wait);
        Assert.NotNull(docker);
        Assert.Equal("tamper", docker.Step?.Action);
        Assert.Single(_h.Sink.Detections(ControlPaths.DockerConfigTampered));
    }

    [SkippableFact]
    public void OwnWritesToControlFiles_Ignored_ThenAStepRewritingTheSameContent_IsNotTampering()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        var monitor = _h.Start(o => With(o, Controls));
        var bundle = Path.Combine(_etc, "ca-certificates.crt");

        File.AppendAllText(bundle, "our ephemeral CA\n"); // the appliance installing its CA
        Assert.True(_h.Sync());
        Assert.Empty(_h.Sink.Detections(ControlPaths.TrustStoreTampered));
        Assert.True(monitor.Stats.OwnWrites >= 1);

        Assert.Equal(0, _h.RunStep("same", $"cat {bundle} > {_h.Root}/b && cat {_h.Root}/b > {bundle}"));
        Assert.True(_h.Sync());
        Assert.Empty(_h.Sink.Detections(ControlPaths.TrustStoreTampered));

        Assert.Equal(0, _h.RunStep("other", $"echo more >> {bundle}"));
        Assert.NotNull(_h.Sink.WaitFor<DetectionEvent>(x => x.Type == ControlPaths.TrustStoreTampered, Wait));
    }

    [SkippableFact]
    public void ControlFileDeleted_RaisesDetection()
    {
        Skip.IfNot(FileMonitorHarness.IsRoot, FileMonitorHarness.NeedsRoot);
        _h.Start(o => With(o, Controls));

        Assert.Equal(0, _h.RunStep("rm", $"rm {_etc}/ca-certificates.crt"));
        var d = _h.Sink.WaitFor<DetectionEvent>(x => x.Type == ControlPaths.TrustStoreTampered, Wait);

        Assert.NotNull(d);
        Assert.Equal("deleted", d.Evidence["change"]);
        Assert.Equal("absent", d.Evidence["newSha256"]);
    }

    public void Dispose() => _h.Dispose();

    private static FileIntegrityMonitorOptions With(FileIntegrityMonitorOptions o, IReadOnlyList<ControlPath> controls) => new()
    {
        Workspace = o.Workspace,
        Attribute = o.Attribute,
        Observer = o.Observer,
        ControlPaths = controls,
    };
}
