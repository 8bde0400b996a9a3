using HardenRunner.Monitoring;

namespace HardenRunner.Tests.Monitoring;

/// <summary>
/// <see cref="ProcessAttributor.Describe"/> over a process table built by hand (exited entries: no /proc or cgroup
/// reads, pids above what this host hands out): one object per unchanged process, a new one for any change.
/// </summary>
public class ProcessAttributorDescribeTests
{
    private const int Grandparent = 4_190_001;
    private const int Parent = 4_190_002;
    private const int Child = 4_190_003;
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;

    private static ProcessEntry Entry(int pid, int ppid, string exe, string cmdline) =>
        new ProcessEntry(pid, ppid, exe, cmdline, Path.GetFileName(exe), 1001, 1001, T0, StepEnvironment.Absent, true) { Exited = T0.AddSeconds(1) };

    private static (ProcessTable Table, ProcessAttributor Attributor) Build()
    {
        var table = new ProcessTable(capacity: 64, exitGrace: TimeSpan.FromDays(1));
        table.Put(Entry(Grandparent, 0, "/usr/bin/bash", "bash -e step.sh"));
        table.Put(Entry(Parent, Grandparent, "/usr/bin/make", "make all"));
        table.Put(Entry(Child, Parent, "/usr/bin/curl", "curl https://allowed.test/"));
        var ancestry = new AncestryResolver(table, TimeProvider.System, 4096);
        return (table, new ProcessAttributor(null, ancestry, new StepResolver(table, ancestry), null));
    }

    [Fact]
    public void Describe_UnchangedProcess_SameObjectEveryTime()
    {
        var (_, attributor) = Build();
        var first = attributor.Describe(Child);
        Assert.NotNull(first);
        Assert.Equal(("/usr/bin/curl", "curl https://allowed.test/"), (first.Exe, first.Cmdline));
        Assert.Equal([Parent, Grandparent], first.Ancestors.Select(a => a.Pid));
        for (var i = 0; i < 3; i++)
        {
            Assert.Same(first, attributor.Describe(Child));
        }

        Assert.NotSame(first, attributor.Describe(Parent));
        Assert.Null(attributor.Describe(4_190_099)); // unknown: nothing described, nothing remembered
    }

    [Fact]
    public void Describe_ExecOrReparent_NewObjectWithTheNewValues()
    {
        var (table, attributor) = Build();
        var before = attributor.Describe(Child)!;

        Assert.True(table.Update(Child, e => e with { Exe = "/usr/bin/python3", Cmdline = "python3 upload.py" })); // exec
        var execed = attributor.Describe(Child)!;
        Assert.NotSame(before, execed);
        Assert.Equal(("/usr/bin/python3", "python3 upload.py"), (execed.Exe, execed.Cmdline));
        Assert.Same(execed, attributor.Describe(Child));

        Assert.True(table.Update(Child, e => e with { Ppid = Grandparent })); // the parent went away: re-parented
        var reparented = attributor.Describe(Child)!;
        Assert.NotSame(execed, reparented);
        Assert.Equal([Grandparent], reparented.Ancestors.Select(a => a.Pid));

        Assert.True(table.Update(Grandparent, e => e with { Exe = "/usr/bin/sh" })); // an ancestor changed
        var ancestorChanged = attributor.Describe(Child)!;
        Assert.NotSame(reparented, ancestorChanged);
        Assert.Equal("/usr/bin/sh", ancestorChanged.Ancestors[0].Exe);
        Assert.Equal(before with { Exe = "/usr/bin/python3", Cmdline = "python3 upload.py", Ancestors = ancestorChanged.Ancestors }, ancestorChanged);
    }
}
