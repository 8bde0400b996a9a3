using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Detectors;

namespace HardenRunner.Tests.Monitoring;

public class PrivilegedContainerDetectorTests
{
    [Theory]
    [InlineData("docker run --rm --privileged alpine sh", "--privileged")]
    [InlineData("docker run -it --privileged=true ubuntu", "--privileged")]
    [InlineData("/usr/bin/docker --host unix:///var/run/docker.sock container run --pid=host alpine", "--pid=host")]
    [InlineData("podman run --net host -v /x:/y alpine", "--net=host")]
    [InlineData("docker create --userns=host --name x alpine", "--userns=host")]
    [InlineData("docker exec --privileged web sh", "--privileged")]
    [InlineData("nerdctl run --ipc host busybox", "--ipc=host")]
    [InlineData("/bin/sh /tmp/x/docker run --privileged alpine", "--privileged")]
    public void Inspect_PrivilegedOrHostNamespace_Detected(string cmdline, string option)
    {
        var f = PrivilegedContainerDetector.Inspect(Exec(cmdline, comm: cmdline.Contains("/tmp/x/docker") ? "docker" : null));
        Assert.NotNull(f);
        Assert.Equal("privileged-container", f.Type);
        Assert.Contains(option, f.Evidence["options"]);
    }

    [Theory]
    [InlineData("docker run alpine echo --privileged")]        // the container's own argument
    [InlineData("docker run -e X=--privileged alpine")]        // an option's value
    [InlineData("docker run --privileged=false alpine")]
    [InlineData("docker build --network host .")]              // not a container start
    [InlineData("docker ps --filter label=--privileged")]
    [InlineData("echo docker run --privileged alpine")]
    [InlineData("grep -r --privileged docker")]
    [InlineData("docker run --name host alpine")]
    public void Inspect_NotPrivileged_Nothing(string cmdline)
    {
        Assert.Null(PrivilegedContainerDetector.Inspect(Exec(cmdline)));
    }

    [Fact]
    public void Inspect_PrivilegedIsHigh_NetworkHostAloneIsMedium()
    {
        Assert.Equal("high", PrivilegedContainerDetector.Inspect(Exec("docker run --privileged a"))!.Severity);
        Assert.Equal("medium", PrivilegedContainerDetector.Inspect(Exec("docker run --network=host a"))!.Severity);
    }

    private static ExecObservation Exec(string cmdline, string? comm = null)
    {
        var args = CommandLine.Split(cmdline);
        var exe = args[0].StartsWith('/') ? args[0] : "/usr/bin/" + args[0];
        var p = new ProcessEntry(4242, 1, exe, cmdline, comm ?? CommandLine.BaseName(exe), 1001, 1001, DateTimeOffset.UnixEpoch, StepEnvironment.Absent, true);
        return new ExecObservation(p, 0, 0, DateTimeOffset.UnixEpoch);
    }
}
