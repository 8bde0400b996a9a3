using System.Diagnostics;
using HardenRunner.Events;
using HardenRunner.Monitoring;
using Xunit.Abstractions;

namespace HardenRunner.Tests.Monitoring;

/// <summary>The monitor against real processes (root: the proc connector needs CAP_NET_ADMIN in the initial namespaces).</summary>
public class ProcessMonitorTests(ITestOutputHelper output)
{
    [SkippableFact]
    public void Connector_ExecOfChild_RecordsPpidExeCmdlineAndUids()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        var sw = Stopwatch.StartNew();
        using var monitor = MonitorTest.StartMonitor(sink);
        output.WriteLine($"monitor started in {sw.ElapsedMilliseconds} ms");
        Assert.Equal(ProcessMonitor.ConnectorMode, monitor.Mode);
        Assert.Null(monitor.FallbackReason);

        var child = MonitorTest.Spawn("/bin/sleep", "0.731");
        try
        {
            var e = sink.WaitFor<ProcessEvent>(p => p.Pid == child.Id, TimeSpan.FromSeconds(10));
            Assert.NotNull(e);
            Assert.Equal(Environment.ProcessId, e.Ppid);
            Assert.Equal(Path.GetFullPath(ResolveLink("/bin/sleep")), e.Exe);
            Assert.EndsWith("sleep 0.731", e.Cmdline);
            Assert.Equal(0, e.Uid);
            Assert.Equal(0, e.Euid);
            Assert.InRange(e.Start, DateTimeOffset.UtcNow.AddSeconds(-30), DateTimeOffset.UtcNow.AddSeconds(1));
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public void Connector_CommandLineWithToken_IsRedactedWhenBuilt()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        const string Token = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
        var header = "AUTHORIZATION: basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("x-access-token:" + Token));
        var child = MonitorTest.Spawn("/bin/sh", "-c", "sleep 0.5", "git", "-c", "http.extraheader=" + header, "fetch", Token);
        try
        {
            var e = sink.WaitFor<ProcessEvent>(p => p.Pid == child.Id && p.Cmdline?.Contains("extraheader") == true, TimeSpan.FromSeconds(10));
            Assert.NotNull(e);
            Assert.DoesNotContain(Token, e.Cmdline);
            Assert.DoesNotContain(header[21..], e.Cmdline);
            Assert.Contains("AUTHORIZATION: basic ***", e.Cmdline);
        }
        finally
        {
            MonitorTest.Kill(child);
        }
    }

    [SkippableFact]
    public void Connector_BurstOf2000ShortLivedExecs_AllSeen()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        const int N = 2000;
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        var lostBefore = monitor.Stats.EventsLost;

        // bash builtins only: every iteration is exactly one fork + exec of /bin/true, as fast as bash can go
        var sw = Stopwatch.StartNew();
        var burst = MonitorTest.Spawn("/bin/bash", "-c", $"i=0; while [ $i -lt {N} ]; do /bin/true; i=$((i+1)); done");
        var burstPid = burst.Id;
        try
        {
            Assert.True(burst.WaitForExit(50_000), "burst did not finish in 50 s");
        }
        finally
        {
            MonitorTest.Kill(burst);
        }

        var burstSeconds = sw.Elapsed.TotalSeconds;
        Assert.True(monitor.Drain(TimeSpan.FromSeconds(20)), "monitor did not catch up");
        var mine = sink.All<ProcessEvent>().Where(p => p.Ppid == burstPid).ToList();
        var withPath = mine.Count(p => p.Exe?.StartsWith('/') == true);
        var withName = mine.Count(p => p.Exe is not null);
        var withCmdline = mine.Count(p => p.Cmdline is not null);
        output.WriteLine(
            $"burst: {N} execs in {burstSeconds:F2} s ({N / burstSeconds:F0}/s); seen {mine.Count}; exe path read {withPath}, name only {withName - withPath}, cmdline {withCmdline}; " +
            $"kernel events lost (all processes) {monitor.Stats.EventsLost - lostBefore}; overflows {monitor.Stats.Overflows}; queue drops {monitor.Stats.SignalsDropped}");
        Assert.Equal(N, mine.Count);
        Assert.Equal(N, mine.Select(p => p.Pid).Distinct().Count());
        Assert.All(mine.Where(p => p.Exe is not null), p => Assert.True(p.Exe!.EndsWith("/true") || p.Exe == "true", p.Exe));
    }

    [SkippableFact]
    public void ProcScan_Forced_SeesNewProcessAndSaysWhy()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink, new ProcessMonitorOptions { ForceProcScan = true, ScanInterval = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(ProcessMonitor.ScanMode, monitor.Mode);
        Assert.Equal("forced by options", monitor.FallbackReason);

        var child = MonitorTest.Spawn("/bin/sleep", "1.5");
        var pid = child.Id;
        try
        {
            var e = sink.WaitFor<ProcessEvent>(p => p.Pid == pid, TimeSpan.FromSeconds(5));
            Assert.NotNull(e);
            Assert.Equal(Environment.ProcessId, e.Ppid);
            Assert.EndsWith("sleep 1.5", e.Cmdline);
        }
        finally
        {
            MonitorTest.Kill(child);
        }

        Assert.True(MonitorTest.WaitUntil(() => monitor.Table.TryGet(pid, out var t) && t.Exited is not null, TimeSpan.FromSeconds(5)), "exit not seen");
    }

    [SkippableFact]
    public void Connector_InNonInitialNetworkNamespace_FallsBackToScanAndSaysWhy()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var ns = "hrmon" + Guid.NewGuid().ToString("N")[..8];
        Assert.Equal(0, Run("ip", "netns", "add", ns));
        try
        {
            var sink = new CollectingSink();
            using var monitor = MonitorTest.StartMonitor(sink, new ProcessMonitorOptions { ConnectorNetworkNamespace = ns, SocketNetworkNamespace = ns });
            Assert.Equal(ProcessMonitor.ScanMode, monitor.Mode);
            Assert.Contains("initial network namespace", monitor.FallbackReason);
        }
        finally
        {
            Run("ip", "netns", "del", ns);
        }
    }

    [SkippableFact]
    public void Step_FromOwnEnvironmentAndFromParentWhenCleared()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        var env = new Dictionary<string, string?> { ["GITHUB_ACTION"] = "__actions_checkout", ["GITHUB_ACTION_REPOSITORY"] = "actions/checkout" };

        // the step's shell starts two children: one inherits the environment, one has it wiped (env -i execs sleep in place)
        var step = MonitorTest.Spawn("/bin/bash", env, "-c", "/bin/sleep 1.11 & env -i /bin/sleep 1.12 & wait");
        try
        {
            var inherited = sink.WaitFor<ProcessEvent>(p => p.Cmdline?.EndsWith("sleep 1.11") == true && p.Ppid == step.Id, TimeSpan.FromSeconds(10));
            var wiped = sink.WaitFor<ProcessEvent>(p => p.Cmdline?.EndsWith("sleep 1.12") == true && p.Ppid == step.Id, TimeSpan.FromSeconds(10));
            Assert.NotNull(inherited);
            Assert.NotNull(wiped);
            Assert.Equal(new StepInfo("__actions_checkout", "actions/checkout"), inherited.Step);
            Assert.Equal(new StepInfo("__actions_checkout", "actions/checkout"), wiped.Step);

            var attributed = monitor.Attributor.AttributePid(wiped.Pid);
            Assert.Equal("actions/checkout", attributed.Step?.Uses);
            Assert.Equal(wiped.Pid, attributed.Process?.Pid);
            Assert.Equal(step.Id, attributed.Process?.Ancestors[0].Pid);
            Assert.Equal(Environment.ProcessId, attributed.Process?.Ancestors[1].Pid);

            if (Environment.GetEnvironmentVariable("GITHUB_ACTION") is null)
            {
                // no GITHUB_ACTION anywhere up the tree of this test process: unknown stays null
                Assert.Null(monitor.Attributor.AttributePid(Environment.ProcessId).Step);
            }
        }
        finally
        {
            MonitorTest.Kill(step);
        }
    }

    [SkippableFact]
    public void Table_ExitedProcess_StaysAttributableDuringGrace()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink, new ProcessMonitorOptions { ExitGrace = TimeSpan.FromSeconds(30), PollInterval = TimeSpan.FromMilliseconds(100) });
        var child = MonitorTest.Spawn("/bin/sleep", "0.2");
        var pid = child.Id;
        child.WaitForExit();
        MonitorTest.Kill(child);
        Assert.True(MonitorTest.WaitUntil(() => monitor.Table.TryGet(pid, out var e) && e.Exited is not null, TimeSpan.FromSeconds(5)));
        var a = monitor.Attributor.AttributePid(pid);
        Assert.Equal(pid, a.Process?.Pid);
        Assert.EndsWith("sleep 0.2", a.Process?.Cmdline);
    }

    private static string ResolveLink(string path)
    {
        var target = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true);
        if (target is not null)
        {
            return target.FullName;
        }

        // /bin may itself be a link to usr/bin
        var dir = new DirectoryInfo(Path.GetDirectoryName(path)!).ResolveLinkTarget(returnFinalTarget: true);
        return dir is null ? path : Path.Combine(dir.FullName, Path.GetFileName(path));
    }

    private static int Run(string file, params string[] args)
    {
        using var p = MonitorTest.Spawn(file, args);
        p.WaitForExit(10_000);
        return p.ExitCode;
    }
}
