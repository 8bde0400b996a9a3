using System.Runtime.Versioning;
using HardenRunner.Monitoring.Containers;

namespace HardenRunner.Tests.Monitoring.Containers;

/// <summary>
/// The reader against real processes in real cgroups: the test makes a cgroup v2 directory named as a runtime
/// would (docker, or containerd under kubepods), moves a child into it and, for the pod, gives the child its own
/// root (chroot) holding a hostname and a service-account namespace laid out as the kubelet does (symlinks).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ContainerReaderTests
{
    private const string PodUid = "0d2d4a3e-6f1b-4c5d-9e8f-7a6b5c4d3e2f";

    // chroot into argv[1], say so, then hold until stdin closes
    private const string ChrootAndWait = "import os, sys\nos.chroot(sys.argv[1]); os.chdir('/')\nprint('ready', flush=True)\nsys.stdin.readline()\n";

    [SkippableFact]
    public void AProcessInADockerCgroup_IsNamedDocker_WithItsIdAndHostname()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var v2 = CgroupV2Mount();
        Skip.If(v2 is null, "no writable cgroup v2 hierarchy");
        var id = RandomId();
        using var cgroup = new TestCgroup(v2, $"docker/{id}");
        var child = MonitorTest.Spawn(MonitorTest.Python, "-c", "import sys; print('ready', flush=True); sys.stdin.readline()");
        try
        {
            Assert.Equal("ready", child.StandardOutput.ReadLine());
            cgroup.Add(child.Id);

            var c = ContainerReader.Read(child.Id);

            Assert.NotNull(c);
            Assert.Equal("docker", c.Runtime);
            Assert.Equal(id, c.Id);
            Assert.Null(c.PodUid);
            Assert.Null(c.PodNamespace); // only pods have one; not read for a plain container
            // the child shares the host's root here, so its hostname file is the host's
            Assert.Equal(ContainerReader.DnsName(File.ReadAllText("/etc/hostname"), 253), c.Name);
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public void AProcessInAPodCgroup_IsNamedWithPodUidNameAndNamespace_ReadInsideItsOwnRoot()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var v2 = CgroupV2Mount();
        Skip.If(v2 is null, "no writable cgroup v2 hierarchy");
        var id = RandomId();
        var slice = PodUid.Replace('-', '_');
        using var cgroup = new TestCgroup(v2, $"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{slice}.slice/cri-containerd-{id}.scope");
        using var host = MonitorTest.CreateTempDir();
        using var root = MonitorTest.CreateTempDir();

        // a host file the container's hostname link points at by absolute path: the reader must resolve the link
        // inside the container's root, where the same path holds the pod's name
        var hostOnly = Path.Combine(host.Path, "name");
        File.WriteAllText(hostOnly, "host-only-name\n");
        var inside = Path.Combine(root.Path, hostOnly.TrimStart('/'));
        Directory.CreateDirectory(Path.GetDirectoryName(inside)!);
        File.WriteAllText(inside, "web-7d4b9c-xk2p\n");
        Directory.CreateDirectory(Path.Combine(root.Path, "etc"));
        File.CreateSymbolicLink(Path.Combine(root.Path, "etc/hostname"), hostOnly);

        // /var/run -> /run (absolute), and the projected service-account volume: namespace -> ..data/namespace
        Directory.CreateDirectory(Path.Combine(root.Path, "var"));
        File.CreateSymbolicLink(Path.Combine(root.Path, "var/run"), "/run");
        var sa = Path.Combine(root.Path, "run/secrets/kubernetes.io/serviceaccount");
        Directory.CreateDirectory(Path.Combine(sa, "..2026_11_27_05_00_00.123"));
        File.WriteAllText(Path.Combine(sa, "..2026_11_27_05_00_00.123/namespace"), "ci-jobs");
        File.CreateSymbolicLink(Path.Combine(sa, "..data"), "..2026_11_27_05_00_00.123");
        File.CreateSymbolicLink(Path.Combine(sa, "namespace"), "..data/namespace");

        var child = MonitorTest.Spawn(MonitorTest.Python, "-c", ChrootAndWait, root.Path);
        try
        {
            Assert.Equal("ready", child.StandardOutput.ReadLine());
            cgroup.Add(child.Id);

            var c = ContainerReader.Read(child.Id);

            Assert.NotNull(c);
            Assert.Equal("containerd", c.Runtime);
            Assert.Equal(id, c.Id);
            Assert.Equal(PodUid, c.PodUid);
            Assert.Equal("web-7d4b9c-xk2p", c.Name);
            Assert.Equal("ci-jobs", c.PodNamespace);

            // and through the monitor's attributor, as every event's process object gets it
            using var monitor = MonitorTest.StartMonitor(new CollectingSink());
            var process = monitor.Attributor.AttributePid(child.Id).Process;
            Assert.NotNull(process);
            Assert.Equal(c, process.Container);
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public void AHostProcessOutsideAnyContainerCgroup_GetsNull_AndAGoneProcessToo()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var v2 = CgroupV2Mount();
        Skip.If(v2 is null, "no writable cgroup v2 hierarchy");
        using var cgroup = new TestCgroup(v2, "system.slice/runner-job.scope");
        var child = MonitorTest.Spawn(MonitorTest.Python, "-c", "import sys; print('ready', flush=True); sys.stdin.readline()");
        int pid = child.Id;
        try
        {
            Assert.Equal("ready", child.StandardOutput.ReadLine());
            cgroup.Add(pid);
            Assert.Null(ContainerReader.Read(pid));
        }
        finally
        {
            MonitorTest.Kill(child);
        }

        Assert.Null(ContainerReader.Read(pid)); // reaped: no /proc entry (a reused pid would be read as itself)
        Assert.Null(ContainerReader.Read(0));
    }

    private static string RandomId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));

    /// <summary>The mount point of the cgroup v2 hierarchy: /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid).</summary>
    private static string? CgroupV2Mount()
    {
        foreach (var line in File.ReadLines("/proc/self/mounts"))
        {
            var f = line.Split(' ');
            if (f.Length > 3 && f[2] == "cgroup2" && f[3].StartsWith("rw", StringComparison.Ordinal))
            {
                return f[1];
            }
        }

        return null;
    }

    /// <summary>A cgroup made under a test-owned top directory; removed, innermost first, on dispose.</summary>
    private sealed class TestCgroup : IDisposable
    {
        private readonly string _top;
        private readonly string _leaf;

        public TestCgroup(string mount, string relative)
        {
            _top = Path.Combine(mount, "hardenrunner-test-" + Guid.NewGuid().ToString("N")[..12]);
            _leaf = Path.Combine(_top, relative);
            Directory.CreateDirectory(_leaf);
        }

        public void Add(int pid) => File.WriteAllText(Path.Combine(_leaf, "cgroup.procs"), pid.ToString(System.Globalization.CultureInfo.InvariantCulture));

        public void Dispose()
        {
            // a cgroup goes away only when empty: the caller killed and reaped its process first
            for (var dir = _leaf; dir.Length >= _top.Length; dir = Path.GetDirectoryName(dir)!)
            {
                for (var attempt = 0; attempt < 50; attempt++)
                {
                    try
                    {
                        Directory.Delete(dir);
                        break;
                    }
                    catch (IOException) when (attempt < 49)
                    {
                        Thread.Sleep(20);
                    }
                }
            }
        }
    }
}
