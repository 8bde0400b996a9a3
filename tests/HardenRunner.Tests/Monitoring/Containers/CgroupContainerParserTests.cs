using HardenRunner.Monitoring.Containers;

namespace HardenRunner.Tests.Monitoring.Containers;

/// <summary>The cgroup layouts of the common runtimes, and what must not be taken for a container.</summary>
public sealed class CgroupContainerParserTests
{
    private const string Id = "4a3f2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a";
    private const string Uid = "0d2d4a3e-6f1b-4c5d-9e8f-7a6b5c4d3e2f";
    private const string UidUnderscore = "0d2d4a3e_6f1b_4c5d_9e8f_7a6b5c4d3e2f";

    public static TheoryData<string, string?, string?, string?> Layouts => new()
    {
        // cgroup v2, Docker with the cgroupfs driver / the systemd driver
        { $"0::/docker/{Id}\n", "docker", Id, null },
        { $"0::/system.slice/docker-{Id}.scope\n", "docker", Id, null },
        // cgroup v1 lines (every hierarchy names the same container)
        { $"12:pids:/docker/{Id}\n11:memory:/docker/{Id}\n1:name=systemd:/docker/{Id}\n0::/\n", "docker", Id, null },
        // containerd through CRI under kubepods, systemd driver (besteffort, burstable, guaranteed)
        { $"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UidUnderscore}.slice/cri-containerd-{Id}.scope\n", "containerd", Id, Uid },
        { $"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UidUnderscore}.slice/cri-containerd-{Id}.scope\n", "containerd", Id, Uid },
        { $"0::/kubepods.slice/kubepods-pod{UidUnderscore}.slice/cri-containerd-{Id}.scope\n", "containerd", Id, Uid },
        // kubepods with the cgroupfs driver: the runtime is not in the path
        { $"0::/kubepods/burstable/pod{Uid}/{Id}\n", "cri", Id, Uid },
        { $"4:memory:/kubepods/besteffort/pod{Uid}/{Id}\n0::/\n", "cri", Id, Uid },
        // CRI-O in a pod, and outside kubepods
        { $"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UidUnderscore}.slice/crio-{Id}.scope\n", "cri-o", Id, Uid },
        { $"0::/machine.slice/crio-{Id}.scope\n", "cri-o", Id, null },
        // cri-dockerd under kubepods
        { $"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UidUnderscore}.slice/docker-{Id}.scope\n", "docker", Id, Uid },
        // podman, rootful and rootless (the container's own child cgroup below the scope)
        { $"0::/machine.slice/libpod-{Id}.scope\n", "podman", Id, null },
        { $"0::/user.slice/user-1001.slice/user@1001.service/user.slice/libpod-{Id}.scope/container\n", "podman", Id, null },
        // docker in docker: the innermost container
        { $"0::/docker/{new string('1', 64)}/docker/{Id}\n", "docker", Id, null },
        // CRLF and a trailing line without newline
        { $"0::/docker/{Id}\r\n", "docker", Id, null },
        // host processes and layouts that must not be guessed at
        { "0::/\n", null, null, null },
        { "0::/user.slice/user-1000.slice/session-3.scope\n", null, null, null },
        { "0::/system.slice/docker.service\n", null, null, null },
        { "4:memory:/process_api/48131dba881b71857ead217e301a57e0\n0::/\n", null, null, null },
        { $"0::/system.slice/{Id}\n", null, null, null },                    // a bare id outside kubepods or /docker
        { $"0::/kubepods/burstable/notapod/{Id}\n", null, null, null },       // no pod component above the bare id
        { $"0::/docker/{Id.ToUpperInvariant()}\n", null, null, null },         // ids are lowercase
        { $"0::/docker/{Id[..63]}\n", null, null, null },                      // 63 hex
        { $"0::/docker/{Id}0\n", null, null, null },                           // 65 hex
        { $"0::/machine.slice/libpod-conmon-{Id}.scope\n", null, null, null }, // podman's monitor, not the container
        { $"0::/machine.slice/crio-conmon-{Id}.scope\n", null, null, null },   // CRI-O's monitor
        { $"0::/system.slice/docker-{Id}.service\n", null, null, null },
        { "garbage without colons\n", null, null, null },
        { "", null, null, null },
        // two hierarchies naming different containers: refused
        { $"4:memory:/docker/{Id}\n0::/docker/{new string('2', 64)}\n", null, null, null },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Parse_RecognisesKnownLayoutsOnly(string cgroupFile, string? runtime, string? id, string? podUid)
    {
        var c = CgroupContainerParser.Parse(cgroupFile);
        if (runtime is null)
        {
            Assert.Null(c);
            return;
        }

        Assert.NotNull(c);
        Assert.Equal(runtime, c.Runtime);
        Assert.Equal(id, c.Id);
        Assert.Equal(podUid, c.PodUid);
    }

    [Fact]
    public void PodUid_MixedSeparators_AreRefused()
    {
        var mixed = "0d2d4a3e-6f1b_4c5d-9e8f-7a6b5c4d3e2f";
        Assert.Null(CgroupContainerParser.Parse($"0::/kubepods/burstable/pod{mixed}/{Id}\n"));
    }

    [Fact]
    public void APathDeeperThanAnyLayout_IsRefused()
    {
        var deep = string.Concat(Enumerable.Repeat("/x", 80)) + $"/docker/{Id}";
        Assert.Null(CgroupContainerParser.Parse($"0::{deep}\n"));
    }

    [Theory]
    [InlineData("web-7d4b9c-xk2p\n", 253, "web-7d4b9c-xk2p")]
    [InlineData("4a3f2b1c0d9e", 253, "4a3f2b1c0d9e")]
    [InlineData("runner.example.test\n", 253, "runner.example.test")]
    [InlineData("ci-jobs", 63, "ci-jobs")]
    [InlineData("", 253, null)]
    [InlineData("-leading", 253, null)]
    [InlineData("trailing.", 253, null)]
    [InlineData("root:$6$salt$hash:19000:0:99999:7:::", 253, null)]
    [InlineData("has space", 253, null)]
    [InlineData("a-name-that-is-longer-than-sixty-three-characters-for-a-namespace-x", 63, null)]
    public void DnsName_AcceptsOnlyRfc1123Names(string text, int max, string? expected) =>
        Assert.Equal(expected, ContainerReader.DnsName(text, max));
}
