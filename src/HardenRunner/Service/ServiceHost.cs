using System.Globalization;
using System.Runtime.InteropServices;
using HardenRunner.Hosting;

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
/// policy's run starts again. Each run is one <see cref="Appliance.RunAsync"/> session, so a switch stops one session
/// and starts the next: for that moment (the table is replaced, the proxy and DNS server restart) traffic is not
/// enforced — see docs/deployment.md, "service mode", for this limit.
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

                    current = StartSession(machine, key, tracker.ActiveWorker, stdout, stderr);
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

    private static Session StartSession(ApplianceOptions machine, int key, int? worker, TextWriter stdout, TextWriter stderr)
    {
        ApplianceOptions options;
        if (worker is { } pid)
        {
            var runId = NewRunId();
            var env = JobEnvironment.Read(pid);
            options = JobPolicy.ForJob(machine, env, runId);
            Log(stdout, $"job run {runId} (worker pid {pid}, workspace {env.GetValueOrDefault("GITHUB_WORKSPACE") ?? "unknown"}): policy {options.PolicyPath ?? "embedded default"}, {(options.EgressOverride is null ? "block" : "audit")} mode"
                + (options.StartupNotices.Count > 0 ? " (the job's policy file is invalid)" : ""));
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
        options = options with { HandOver = handOver };
        var cts = new CancellationTokenSource();
        var task = Task.Run(() => Appliance.RunAsync(options, stdout, stderr, cts.Token), CancellationToken.None);
        return new Session(key, options.RunId, task, cts, handOver);
    }

    private static void Log(TextWriter stdout, string message)
    {
        stdout.WriteLine("harden-runner: service: " + message);
        stdout.Flush();
    }

    private static string NewRunId() =>
        DateTimeOffset.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));

    private sealed class Session(int key, string? runId, Task<int> task, CancellationTokenSource cts, SessionHandOver handOver)
    {
        private bool _stopped;

        public int Key { get; } = key;

        public string? RunId { get; } = runId;

        public Task<int> Task { get; } = task;

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
