using System.Globalization;
using System.Runtime.InteropServices;
using HardenRunner.Events;
using HardenRunner.Hosting;
using HardenRunner.Linux;
using HardenRunner.Monitoring.Detectors;
using HardenRunner.Policy.Model;

namespace HardenRunner.Service;

/// <summary>Settings of service mode (<c>harden-runner service</c>).</summary>
public sealed record ServiceOptions
{
    public JobProcessNames Names { get; init; } = new();

    /// <summary>How often /proc is listed for runner workers starting and ending.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(250);
}

/// <summary>
/// Service mode for self-hosted VMs and bare metal (DESIGN §6, docs/deployment.md): the appliance stays up for the
/// life of the host and watches every job. Between jobs it enforces the machine policy (the options it was started
/// with) as a run of its own; when a runner worker starts under a runner listener (<see cref="JobTracker"/>), that
/// run ends and the job's run starts, with its own id, the job's GITHUB_* values and the job's policy
/// (<see cref="JobPolicy"/>); when the worker ends, the job's run ends (its reports are written) and the machine
/// policy's run starts again. Each run is one <see cref="Appliance.RunAsync"/> session, so a job boundary stops one
/// session and starts the next: for that moment (the table is replaced, the proxy and DNS server restart) DNS and
/// HTTP(S) fail — see docs/deployment.md, "service mode", for this limit. Within a job, the job's coordinates (from
/// the worker or, when it lacks them, its first step process) and its <c>.harden/policy.yml</c> (once the checkout
/// wrote it: <see cref="JobPolicyWatcher"/>) are put in force in place, through the session's <see cref="RunControl"/>.
/// A session that ends by itself (a failure, or an authorized <c>harden-runner stop</c>) ends the service with its
/// exit code, so systemd's restart policy decides what happens next.
/// </summary>
public static class ServiceHost
{
    public static async Task<int> RunAsync(ApplianceOptions machine, ServiceOptions service, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(machine);
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stop.Cancel(); });

        var tracker = new JobTracker(service.Names);
        var feed = new ProcSnapshotFeed();
        Session? current = null;
        JobWatch? watch = null;
        try
        {
            while (true)
            {
                foreach (var t in feed.Poll(tracker))
                {
                    Log(stdout, t switch
                    {
                        JobStarted s => $"job started: worker pid {s.WorkerPid}",
                        JobEnded e => $"job ended: worker pid {e.WorkerPid}",
                        JobOverlapIgnored o => $"a second worker (pid {o.WorkerPid}) started while the job of worker pid {o.ActiveWorkerPid} runs: its traffic is recorded in that job's run (one job at a time per appliance)",
                        _ => t.ToString(),
                    });
                }

                var key = tracker.ActiveWorker is null ? 0 : tracker.JobsStarted;
                if (current is null || current.Key != key)
                {
                    if (current is not null)
                    {
                        // a switch: the table stays until the next run replaces it
                        await current.StopAsync(handOver: true).ConfigureAwait(false);
                    }

                    current = StartSession(machine, key, tracker.ActiveWorker, stdout, stderr, out watch);
                }

                if (watch is not null && current.Control.IsReady && !current.Task.IsCompleted)
                {
                    try
                    {
                        await WatchJobAsync(watch, current.Control, feed, stdout, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                    }
                    catch (InvalidOperationException) when (!current.Control.IsReady)
                    {
                        // the session began to stop meanwhile
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        // never let one job's watch end the service: the session keeps enforcing what it has
                        Log(stdout, $"job run {watch.RunId}: watching the job failed ({e.GetType().Name}: {e.Message}); retried at the next poll");
                    }
                }

                if (current.Task.IsCompleted)
                {
                    var code = await current.Task.ConfigureAwait(false);
                    Log(stdout, $"run {current.RunId ?? "(machine)"} ended by itself (exit code {code}); the service stops");
                    return code;
                }

                try
                {
                    await Task.WhenAny(current.Task, Task.Delay(service.PollInterval, stop.Token)).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }

                if (stop.IsCancellationRequested)
                {
                    Log(stdout, "stopping");
                    return await current.StopAsync().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            if (current is not null)
            {
                await current.StopAsync().ConfigureAwait(false);
            }
        }
    }

    private static Session StartSession(ApplianceOptions machine, int key, int? worker, TextWriter stdout, TextWriter stderr, out JobWatch? watch)
    {
        ApplianceOptions options;
        watch = null;
        if (worker is { } pid)
        {
            var runId = NewRunId();
            var env = JobEnvironment.Read(pid);
            options = JobPolicy.ForJob(machine, env, runId);
            watch = new JobWatch(pid, runId, env);
            Log(stdout, $"job run {runId} (worker pid {pid}, workspace {env.GetValueOrDefault("GITHUB_WORKSPACE") ?? "not known yet"}): audit mode until the job's {JobPolicy.RelativePath} appears");
        }
        else
        {
            options = machine;
            Log(stdout, "between jobs: the machine policy applies");
        }

        if (options.ReadyFile is { } ready)
        {
            File.Delete(ready);
        }

        var handOver = new SessionHandOver();
        var control = new RunControl();
        options = options with { HandOver = handOver, Control = control };
        var cts = new CancellationTokenSource();
        var task = Task.Run(() => Appliance.RunAsync(options, stdout, stderr, cts.Token), CancellationToken.None);
        return new Session(key, options.RunId, task, cts, handOver, control);
    }

    /// <summary>
    /// One look at the active job: learn its workspace (and coordinates) from its first step process when the worker's
    /// environment lacks them, then look at its policy file and do what <see cref="JobPolicyWatcher"/> says.
    /// </summary>
    private static async Task WatchJobAsync(JobWatch watch, RunControl control, ProcSnapshotFeed feed, TextWriter stdout, CancellationToken cancellationToken)
    {
        if (!watch.EnvironmentRecorded)
        {
            if (string.IsNullOrEmpty(watch.Workspace))
            {
                foreach (var pid in feed.DescendantsOf(watch.WorkerPid))
                {
                    if (!watch.Checked.Add(pid))
                    {
                        continue;
                    }

                    var env = JobEnvironment.Read(pid);
                    if (env.GetValueOrDefault("GITHUB_WORKSPACE") is { Length: > 0 })
                    {
                        foreach (var (name, value) in env)
                        {
                            watch.Environment.TryAdd(name, value); // the worker's own values first
                        }

                        Log(stdout, $"job run {watch.RunId}: workspace {watch.Workspace} (from the environment of step process pid {pid})");
                        break;
                    }
                }
            }

            if (string.IsNullOrEmpty(watch.Workspace))
            {
                return;
            }

            await control.UpdateJobAsync(watch.Environment, cancellationToken).ConfigureAwait(false);
            watch.EnvironmentRecorded = true;
        }

        var path = Path.Combine(watch.Workspace!, JobPolicy.RelativePath);
        var look = BeneathFileReader.Read(watch.Workspace!, JobPolicy.RelativePath, JobPolicy.MaxBytes);
        switch (watch.Policy.Observe(look.Content, look.Refusal))
        {
            case TakeJobPolicy take:
                var (policy, problems) = JobPolicy.Load(take.Content, path);
                if (policy is null)
                {
                    watch.Policy.Taken(enforcing: false);
                    control.Publish(Detection(PolicyInvalidDetection, DetectionTypes.Medium,
                        $"the job's policy file {path} is invalid, so the job runs in audit mode: {problems}", path));
                    Log(stdout, $"job run {watch.RunId}: the job's policy file {path} is invalid; audit mode continues: {problems}");
                    return;
                }

                PolicySwitchResult switched;
                try
                {
                    switched = await control.SwitchPolicyAsync(policy, cancellationToken).ConfigureAwait(false);
                }
                catch (InvalidOperationException) when (!control.IsReady)
                {
                    watch.Policy.Retry(); // the session is not enforcing (it is stopping): take it again if it comes back
                    return;
                }

                watch.Policy.Taken(enforcing: switched.Mode == EgressMode.Block);
                foreach (var problem in switched.Problems)
                {
                    Log(stdout, $"job run {watch.RunId}: policy switch: {problem}");
                }

                var modeText = switched.Mode == EgressMode.Block ? "block" : "audit";
                control.Publish(Detection(JobPolicyAppliedDetection, DetectionTypes.Low,
                    $"the job's policy file {path} ({modeText} mode) was put in force when it appeared in the workspace; the job's earlier events were decided in audit mode with the embedded default",
                    path));
                Log(stdout, $"job run {watch.RunId}: the job's policy {path} is in force, {modeText} mode ({switched.Reallowed} cached address(es) allowed again)");
                return;
            case JobPolicyRefused refused:
                control.Publish(Detection(PolicyInvalidDetection, DetectionTypes.Medium,
                    $"the job's policy file {path} was not read ({refused.Reason}), so the job runs in audit mode", path));
                Log(stdout, $"job run {watch.RunId}: the job's policy file {path} was not read: {refused.Reason}");
                return;
            case JobPolicyChangeIgnored:
                control.Publish(Detection(PolicyFileChangedDetection, DetectionTypes.Medium,
                    $"the job's policy file {path} changed after its block-mode policy was put in force; the change is not applied in this job (a job step must not loosen the policy that constrains it)",
                    path));
                Log(stdout, $"job run {watch.RunId}: the job's policy file {path} changed after it was put in force; the change is ignored");
                return;
        }
    }

    /// <summary>The job's policy file is invalid or could not be read: the job runs in audit mode.</summary>
    public const string PolicyInvalidDetection = "policy-invalid";

    /// <summary>The job's policy file was put in force during the job (service mode).</summary>
    public const string JobPolicyAppliedDetection = "job-policy-applied";

    /// <summary>The job's policy file changed after a block-mode policy from it was in force; the change was ignored.</summary>
    public const string PolicyFileChangedDetection = "policy-file-changed";

    private static DetectionEvent Detection(string type, string severity, string description, string path) =>
        new(DateTimeOffset.UtcNow, type, severity, description, new Dictionary<string, string>(StringComparer.Ordinal) { ["file"] = path });

    private static void Log(TextWriter stdout, string message)
    {
        stdout.WriteLine("harden-runner: service: " + message);
        stdout.Flush();
    }

    private static string NewRunId() =>
        DateTimeOffset.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));

    /// <summary>What the service knows of the active job.</summary>
    private sealed class JobWatch(int workerPid, string runId, Dictionary<string, string> environment)
    {
        public int WorkerPid { get; } = workerPid;

        public string RunId { get; } = runId;

        public Dictionary<string, string> Environment { get; } = environment;

        public string? Workspace => Environment.GetValueOrDefault("GITHUB_WORKSPACE") is { Length: > 0 } w ? w : null;

        /// <summary>Processes whose environment was already looked at for the workspace.</summary>
        public HashSet<int> Checked { get; } = [];

        /// <summary>Whether the job's values (with its workspace) are in the run.</summary>
        public bool EnvironmentRecorded { get; set; }

        public JobPolicyWatcher Policy { get; } = new();
    }

    private sealed class Session(int key, string? runId, Task<int> task, CancellationTokenSource cts, SessionHandOver handOver, RunControl control)
    {
        private bool _stopped;

        public int Key { get; } = key;

        public string? RunId { get; } = runId;

        public Task<int> Task { get; } = task;

        public RunControl Control { get; } = control;

        private SessionHandOver HandOverState { get; } = handOver;

        /// <summary>Stops the session (its reports are written) and returns its exit code.</summary>
        public async Task<int> StopAsync(bool handOver = false)
        {
            if (!_stopped)
            {
                _stopped = true;
                HandOverState.KeepTable = handOver;
                await cts.CancelAsync().ConfigureAwait(false);
            }

            try
            {
                return await Task.ConfigureAwait(false);
            }
            finally
            {
                cts.Dispose();
            }
        }
    }
}
