using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using HardenRunner.Control;
using HardenRunner.Dns;
using HardenRunner.Events;
using HardenRunner.Lockdown;
using HardenRunner.Monitoring;
using HardenRunner.Monitoring.Detectors;
using HardenRunner.Monitoring.Files;
using HardenRunner.Netfilter;
using HardenRunner.Netfilter.Nflog;
using HardenRunner.Policy;
using HardenRunner.Policy.Model;
using HardenRunner.Proxy;
using HardenRunner.Reporting;
using HardenRunner.Store;
using HardenRunner.Tls;
using HardenRunner.Trust;

namespace HardenRunner.Hosting;

/// <summary>
/// Runs the appliance: loads the policy, applies the firewall, starts the DNS server and the proxy, points the
/// resolver at the appliance, opens the control socket, and on stop undoes all of it and writes the summary. In block
/// mode any failure before enforcement is in place leaves egress closed (<see cref="FailClosedStart"/>): the table is
/// applied before any component that can fail, stays until a stop or the next run replaces it, and a component that
/// fails to start makes the run exit non-zero naming it.
/// </summary>
public static class Appliance
{
    public const string SummaryFileName = "summary.md";
    public const string EventsFileName = "events.jsonl";

    /// <summary>Where the trust-store installation keeps its manifest and byte-exact backups.</summary>
    public const string TrustDirectoryName = "trust";

    /// <summary>Where disable-sudo keeps its manifest and byte-exact backups.</summary>
    public const string LockdownDirectoryName = "lockdown";

    /// <summary>The proxy ports the firewall redirects TCP 80/443 to; until the proxy listens there, those flows are refused (fail-closed).</summary>
    public const int HttpProxyPort = 15080;
    public const int HttpsProxyPort = 15443;

    public static async Task<int> RunAsync(ApplianceOptions options, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);

        // 1. the policy: an invalid one is an error, never an empty allow-list
        var load = PolicyResolution.Load(options, Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory());
        foreach (var d in load.Diagnostics)
        {
            stderr.WriteLine(d.ToString());
        }

        if (!load.Success)
        {
            // block mode (asked for on the command line or in the file) leaves egress closed; audit changes nothing
            return await FailClosedStart.RefuseInvalidPolicyAsync(options, stderr, Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory()).ConfigureAwait(false);
        }

        var policy = load.Policy!;
        Store.Postgres.PostgresStoreUri? fleetStore;
        try
        {
            fleetStore = StoreSelection.Parse(options.Store);
        }
        catch (FormatException ex)
        {
            stderr.WriteLine($"harden-runner: refusing to start: --store: {ex.Message}; nothing was changed.");
            return 2;
        }

        if (!Environment.IsPrivilegedProcess)
        {
            stderr.WriteLine("harden-runner: the appliance needs root (CAP_NET_ADMIN) to install its firewall; run it with sudo.");
            return 1;
        }

        // one appliance per network namespace: a second one would replace the running one's table (and restore the
        // leftovers of a run that is not over); refused before anything is changed
        if (!ApplianceInstanceLock.TryAcquire(out var holder))
        {
            stderr.WriteLine($"harden-runner: refusing to start: another appliance{(holder > 0 ? $" (pid {holder})" : "")} is running in this network namespace; stop it first ('harden-runner stop'); nothing was changed.");
            return 1;
        }

        StopAuthorization stopAuthorization;
        try
        {
            stopAuthorization = new StopAuthorization(options.StopToken);
        }
        catch (ArgumentException ex)
        {
            stderr.WriteLine($"harden-runner: HARDEN_RUNNER_STOP_TOKEN: {ex.Message}");
            return 2;
        }

        Directory.CreateDirectory(options.StateDir);
        // with a stop token, other users may reach the control socket (and read summary.md) but not list the directory
        File.SetUnixFileMode(options.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | (stopAuthorization.HasToken ? UnixFileMode.GroupExecute | UnixFileMode.OtherExecute : UnixFileMode.None));
        var lockdownState = Path.Combine(options.StateDir, LockdownDirectoryName);
        TryStep(stderr, "restore the sudo rights of a previous run that did not stop cleanly", () =>
        {
            if (PrivilegeLockdown.Restore(lockdownState) > 0)
            {
                stderr.WriteLine("harden-runner: restored the sudoers files and container sockets of a previous run that did not stop cleanly");
            }
        });
        var resolver = new ResolverConfig(options.ResolvConfPath, Path.Combine(options.StateDir, "resolv.conf.orig"));
        if (resolver.HasBackup)
        {
            // a previous run died before it could restore the resolver; restore it before reading the upstreams
            resolver.Restore();
            stderr.WriteLine($"harden-runner: restored {options.ResolvConfPath} left by a previous run that did not stop cleanly");
        }

        IReadOnlyList<IPEndPoint> upstreams;
        try
        {
            upstreams = options.UpstreamDns is { } u
                ? (UpstreamResolverDiscovery.TryParseUpstreams(u, out var parsed, out var error) ? parsed : throw new UpstreamDiscoveryException("--upstream-dns: " + error))
                : UpstreamResolverDiscovery.Discover(path => File.Exists(path) ? File.ReadAllText(path) : null);
        }
        catch (UpstreamDiscoveryException ex)
        {
            stderr.WriteLine($"harden-runner: {ex.Message}");
            return options.UpstreamDns is null ? 1 : 2;
        }

        X509Certificate2Collection upstreamRoots = [];
        if (options.UpstreamCa is { } upstreamCa)
        {
            try
            {
                upstreamRoots.ImportFromPemFile(upstreamCa);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                stderr.WriteLine($"harden-runner: --upstream-ca {upstreamCa}: {ex.Message}");
                return 2;
            }
        }

        var trustState = Path.Combine(options.StateDir, TrustDirectoryName);
        // a previous run that died with its CA installed: take that CA out before anything else (no-op otherwise)
        var leftover = TrustStoreInstaller.Uninstall(trustState);
        if (leftover.HadInstallation)
        {
            stderr.WriteLine($"harden-runner: removed the CA of a previous run that did not stop cleanly ({leftover.Restored.Count} file(s) restored)");
        }

        var runId = options.RunId ?? NewRunId();
        var started = DateTimeOffset.UtcNow;
        // service mode may learn the job's values later (RunControl.UpdateJobAsync)
        var jobValues = options.JobEnvironment;
        Func<string, string?> jobEnv = k => jobValues is { } je ? je.GetValueOrDefault(k) : Environment.GetEnvironmentVariable(k);
        var tally = new RunTally();
        await using var jsonl = options.EventsJsonl ? new JsonlEventSink(Path.Combine(options.StateDir, EventsFileName), runId) : null;

        // the store keeps every run (one row per event, committed in small batches) for reports and recommendations;
        // in fleet mode the local file is also the buffer that is shipped to PostgreSQL in the background
        await using var store = StoreSelection.OpenForAppliance(fleetStore, options.StateDir);
        if (fleetStore is not null)
        {
            stderr.WriteLine($"harden-runner: fleet store {fleetStore.Display}: events are kept in {SqliteEventStore.PathIn(options.StateDir)} and shipped there");
        }

        var runInfo = RunInfo.FromEnvironment(runId, started, policy.EgressPolicy, jobEnv);
        await store.BeginRunAsync(runInfo, cancellationToken).ConfigureAwait(false);
        var stored = new StoreEventSink(store, runId);
        // blocked network events also raise egress-blocked (with their process and step)
        var events = new EgressBlockedDetector(jsonl is null ? new CompositeEventSink(stored, tally) : new CompositeEventSink(stored, jsonl, tally));
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stopping.Cancel(); });
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; stopping.Cancel(); });

        // processes first, so that what the job starts while the rest comes up is already seen; the proc connector
        // exists only in the initial network namespace (the monitor falls back to scanning /proc, and says so,
        // where that is not reachable)
        var processes = ProcessMonitor.Start(events, new ProcessMonitorOptions { ConnectorNetworkNamespace = options.ProcConnectorNetworkNamespace });
        if (processes.FallbackReason is { } why)
        {
            stderr.WriteLine($"harden-runner: process monitor: scanning /proc instead of the kernel proc connector ({why})");
        }

        // one reference read by the DNS server, the proxy and (through its table) the firewall: service mode can switch it
        var active = new ActivePolicy(new PolicyEngine(policy));
        var mode = policy.EgressPolicy;
        using var switching = new SemaphoreSlim(1, 1);
        using var nft = new LibNftables();
        Firewall? firewall = null;
        DnsServer? dns = null;
        NflogReader? nflog = null;
        EphemeralCertificateAuthority? ca = null;
        CertificateWarmer? warmer = null;
        TransparentProxy? proxy = null;
        FileIntegrityMonitor? files = null;
        var trustInstalled = false;
        var lockdownApplied = false;
        ControlServer? control = null;
        var ready = false;
        var tableApplied = false;
        var shuttingDown = false;
        var exitCode = 0;
        try
        {
            // 2. the table before any component that can fail: from here on, block mode is enforced whatever happens
            //    to this process; until the DNS server and the proxy listen, the flows redirected to them are refused
            //    (fail-closed). NFLOG before the table, so the first denied flow is already seen.
            var containerDnsPort = FailClosedStart.ContainerDnsPort(options.DnsPort);
            var fwOptions = FirewallOptions.FromPolicy(policy, options.DnsPort, HttpProxyPort, HttpsProxyPort, [.. upstreams.Select(e => e.Address).Distinct()]) with { ContainerDnsPort = containerDnsPort };
            firewall = new Firewall(fwOptions, nft, events);
            var ownSockets = new Monitoring.Network.OwnSockets(); // the proxy's resolver's sockets, known to the DNS server
            nflog = NflogReader.Start(fwOptions.NflogGroup, events, attributor: processes.Attributor);
            await firewall.ApplyAsync(stopping.Token).ConfigureAwait(false);
            tableApplied = true;

            // 3. the ephemeral CA (key in memory only; or the node's persistent CA), first: the DNS server queues each
            //    allowed name it resolves for a client so that its certificate is minted before the client connects
            ca = CreateCertificateAuthority(options, runId, stdout);
            warmer = new CertificateWarmer(ca, name => WouldIntercept(active.Current, name));

            // 4. the DNS server the table redirects port 53 to
            dns = new DnsServer(
                new DnsServerOptions
                {
                    // loopback for the host's processes; every address on the next port for containers, whose DNS is
                    // redirected to their bridge's address (the firewall's input chain admits only loopback and
                    // redirected flows there; docs/deployment.md, containers)
                    ListenEndpoints =
                    [
                        new IPEndPoint(IPAddress.Loopback, options.DnsPort),
                        new IPEndPoint(IPAddress.IPv6Loopback, options.DnsPort),
                        new IPEndPoint(Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any, containerDnsPort),
                    ],
                    Upstreams = upstreams,
                    Attributor = processes.Attributor,
                    OwnSockets = ownSockets,
                    NameResolved = warmer.Warm,
                },
                active,
                new FirewallAddressSink(firewall),
                events);
            await StartComponentAsync($"the DNS server (port {options.DnsPort}, containers {containerDnsPort})", () => dns.StartAsync(stopping.Token)).ConfigureAwait(false);

            // 5. the proxy that the firewall redirects 80/443 to
            proxy = new TransparentProxy(
                new ProxyOptions { HttpsPort = HttpsProxyPort, HttpPort = HttpProxyPort, UpstreamRoots = upstreamRoots, Attributor = processes.Attributor },
                active,
                ca,
                new ApplianceDnsResolver(options.DnsPort, ownSockets, dns.CachedAddresses),
                events);
            await StartComponentAsync($"the proxy (ports {HttpsProxyPort} and {HttpProxyPort})", () => proxy.StartAsync(stopping.Token)).ConfigureAwait(false);

            // 6. the resolver points at the appliance (the redirect covers every other resolver too)
            resolver.Apply("127.0.0.1");

            // 7. clients trust the CA: system store, JDK keystores, and the variables for $GITHUB_ENV / 'env'
            var layout = TrustStoreLayout.Detect()
                ?? throw new InvalidOperationException("no supported system trust store was found (Debian/Ubuntu, RHEL/Fedora or Alpine layout)");
            var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
                .Select(e => new KeyValuePair<string, string?>((string)e.Key, e.Value as string));
            trustInstalled = true;
            var installation = new TrustStoreInstaller(trustState, layout, JavaKeystore.Discover(environment)).Install(ca.Certificate);
            foreach (var warning in installation.Warnings)
            {
                stderr.WriteLine("harden-runner: trust: " + warning);
            }

            if (Environment.GetEnvironmentVariable("GITHUB_ENV") is { Length: > 0 } githubEnv)
            {
                installation.Environment.WriteGithubEnv(githubEnv);
            }

            // 7b. disable-sudo / disable-sudo-and-containers (after the appliance's own root work)
            var disableContainers = options.DisableSudoAndContainers || policy.DisableSudoAndContainers;
            if (options.DisableSudo || policy.DisableSudo || disableContainers)
            {
                var user = options.RunnerUser ?? (Environment.GetEnvironmentVariable("SUDO_USER") is { Length: > 0 } su ? su : "runner");
                lockdownApplied = true;
                var locked = PrivilegeLockdown.Apply(lockdownState, new LockdownOptions { User = user, Containers = disableContainers });
                stdout.WriteLine($"harden-runner: sudo disabled for '{user}' ({locked.RulesDisabled} rule(s) in {string.Join(", ", locked.SudoersFilesChanged)})"
                    + (disableContainers ? $"; container sockets locked: {(locked.SocketsLocked.Count == 0 ? "none found" : string.Join(", ", locked.SocketsLocked))}" : ""));
                foreach (var warning in locked.Warnings)
                {
                    stderr.WriteLine("harden-runner: disable-sudo: " + warning);
                }
            }

            // 8. source integrity and the appliance's own controls (after the appliance's own changes to them)
            void StartFileMonitor(string? workspace)
            {
                if (files is null && active.Current.Document.FileMonitoring && !options.DisableFileMonitoring && !string.IsNullOrEmpty(workspace))
                {
                    files = FileIntegrityMonitor.Start(
                        new FileMonitorNoticeSink(events, stderr),
                        new FileIntegrityMonitorOptions
                        {
                            Workspace = workspace,
                            ControlPaths = Monitoring.Files.ControlPaths.Standard([installation.BundlePath]),
                            Attribute = pid => WriterOf(processes.Attributor, pid),
                        });
                }
            }

            StartFileMonitor(options.Workspace ?? Environment.GetEnvironmentVariable("GITHUB_WORKSPACE"));

            var liveReport = new LiveReport(store, stored, runId, options.StateDir, jobEnv);
            control = new ControlServer(
                Path.Combine(options.StateDir, ControlClient.SocketFileName),
                async (request, ct) => request.Command switch
                {
                    "status" => Status(runId, mode, started, options, tally, (jsonl?.Dropped ?? 0) + stored.Lost, ready && !shuttingDown),
                    var c when StopAuthorization.IsStop(c) => stopAuthorization.Refusal(request) is { } refusal
                        ? StopRefused(stderr, request, refusal)
                        : StopRequested(stopping),
                    var c when LiveReport.IsReport(c) => shuttingDown
                        ? JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = "the appliance is stopping; its final report is being written" }, ControlJson.Default.DictionaryStringString)
                        : await liveReport.AnswerAsync(c, ct).ConfigureAwait(false),
                    var c => JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = $"unknown command '{c}'" }, ControlJson.Default.DictionaryStringString),
                },
                openToAllUsers: stopAuthorization.HasToken);

            ready = true;
            if (options.Control is { } runControl)
            {
                var switchFirewall = firewall;
                var switchDns = dns;
                runControl.Attach(
                    async (next, ct) =>
                    {
                        await switching.WaitAsync(ct).ConfigureAwait(false);
                        try
                        {
                            // the engine first (DNS and proxy decide with it at once), then the table with its sets
                            // emptied, then the cached names the new policy allows back into the sets
                            var engine = new PolicyEngine(next);
                            active.Replace(engine);
                            mode = next.EgressPolicy;
                            var nextTable = FirewallOptions.FromPolicy(next, options.DnsPort, HttpProxyPort, HttpsProxyPort, [.. upstreams.Select(e => e.Address).Distinct()]) with { ContainerDnsPort = containerDnsPort };
                            var problems = new List<string>();
                            try
                            {
                                await switchFirewall.ReplacePolicyAsync(nextTable, engine, ct).ConfigureAwait(false);
                            }
                            catch (Exception e) when (e is not OperationCanceledException)
                            {
                                // the engine is in force already; the firewall's verifier applies the new table at its next round
                                problems.Add("the new firewall table could not be applied yet (it is retried): " + e.Message);
                            }

                            var reallowed = await switchDns.ReallowCachedAsync(ct).ConfigureAwait(false);
                            runInfo = runInfo with { Mode = mode };
                            try
                            {
                                await store.UpdateRunAsync(runInfo, ct).ConfigureAwait(false);
                            }
                            catch (StoreException e)
                            {
                                problems.Add("the run's mode could not be recorded: " + e.Message);
                            }

                            foreach (var problem in problems)
                            {
                                stderr.WriteLine("harden-runner: policy switch: " + problem);
                            }

                            SystemdNotify.Notify($"STATUS=enforcing in {(mode == EgressMode.Block ? "block" : "audit")} mode, run {runId} (policy switched)");
                            return new PolicySwitchResult(mode, reallowed, problems);
                        }
                        finally
                        {
                            switching.Release();
                        }
                    },
                    async (values, ct) =>
                    {
                        await switching.WaitAsync(ct).ConfigureAwait(false);
                        try
                        {
                            jobValues = values;
                            runInfo = RunInfo.FromEnvironment(runId, started, mode, jobEnv) with { HostName = runInfo.HostName };
                            await store.UpdateRunAsync(runInfo, ct).ConfigureAwait(false);
                            StartFileMonitor(values.GetValueOrDefault("GITHUB_WORKSPACE"));
                        }
                        finally
                        {
                            switching.Release();
                        }
                    },
                    events.Publish);
            }

            if (stopAuthorization.HasToken)
            {
                // the directory is traversable for the token holder: nothing in it but the summary may be readable
                RestrictStateFiles(options.StateDir);
            }

            if (options.ReadyFile is not null)
            {
                await File.WriteAllTextAsync(options.ReadyFile, runId + "\n", CancellationToken.None).ConfigureAwait(false);
            }

            SystemdNotify.Notify("READY=1", $"STATUS=enforcing in {(mode == EgressMode.Block ? "block" : "audit")} mode, run {runId}", $"MAINPID={Environment.ProcessId}");
            stdout.WriteLine($"harden-runner: enforcing in {(mode == EgressMode.Block ? "block" : "audit")} mode (run {runId}, policy {policy.Source}, state {options.StateDir}, upstream DNS {string.Join(", ", upstreams)})");
            await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            try
            {
                await Task.Delay(Timeout.Infinite, stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            // service mode hands over to the next run: systemd must not see the service stopping
            if (options.HandOver?.KeepTable == true)
            {
                SystemdNotify.Notify("STATUS=switching runs: writing the reports of run " + runId);
            }
            else
            {
                SystemdNotify.Notify("STOPPING=1", "STATUS=stopping: restoring and writing the reports");
            }
            stdout.WriteLine("harden-runner: stopping");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            stderr.WriteLine($"harden-runner: {(ready ? "failed" : "could not start")}: {ex.Message}");
            exitCode = 1;
            if (!ready && mode == EgressMode.Block)
            {
                await FailClosedStart.LeaveClosedAsync(tableApplied, options.DnsPort, stderr).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("harden-runner: stopped before enforcement was in place");
            exitCode = 1;
            if (!ready && mode == EgressMode.Block)
            {
                await FailClosedStart.LeaveClosedAsync(tableApplied, options.DnsPort, stderr).ConfigureAwait(false);
            }
        }
        finally
        {
            shuttingDown = true;
            options.Control?.Detach();
            // a switch in progress finishes before anything is undone
            await switching.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            if (files is not null)
            {
                // catches writes the events could not show (a live memory mapping, a hard link from outside)
                files.Recheck(TimeSpan.FromSeconds(10));
                files.Dispose();
            }

            // undo: in block mode after a failed start the table stays (fail-closed); otherwise remove it
            // (in service mode, a run that hands over to the next leaves the table for it to replace atomically)
            var removeTable = (ready || mode == EgressMode.Audit) && options.HandOver?.KeepTable != true;
            if (lockdownApplied)
            {
                TryStep(stderr, "restore the sudoers files and container sockets", () => PrivilegeLockdown.Restore(lockdownState));
            }

            TryStep(stderr, "restore the resolver configuration", resolver.Restore);
            if (trustInstalled)
            {
                TryStep(stderr, "remove the CA from the trust stores", () => TrustStoreInstaller.Uninstall(trustState));
            }

            if (firewall is not null)
            {
                if (removeTable)
                {
                    await TryStepAsync(stderr, "remove the firewall table", () => firewall.RemoveAsync(CancellationToken.None)).ConfigureAwait(false);
                }

                await firewall.DisposeAsync().ConfigureAwait(false);
            }

            nflog?.Dispose();
            if (proxy is not null)
            {
                await proxy.DisposeAsync().ConfigureAwait(false);
            }

            if (dns is not null)
            {
                await dns.DisposeAsync().ConfigureAwait(false);
            }

            warmer?.Dispose();
            ca?.Dispose();
        }

        processes.Drain(TimeSpan.FromSeconds(5));
        processes.Dispose();
        if (jsonl is not null)
        {
            await jsonl.DisposeAsync().ConfigureAwait(false);
        }

        await stored.DisposeAsync().ConfigureAwait(false);
        await TryStepAsync(stderr, "add the baseline detections", () => Insights.Detections.BaselineDetections.AppendAsync(store, runId, cancellationToken: CancellationToken.None)).ConfigureAwait(false);
        var ended = DateTimeOffset.UtcNow;
        await store.EndRunAsync(runId, ended, stored.Lost, CancellationToken.None).ConfigureAwait(false);
        await TryStepAsync(stderr, "write the JSON report", () => RunReportFile.WriteJsonAsync(store, runId, options.StateDir, CancellationToken.None)).ConfigureAwait(false);
        // summary.md and report.html from the store (Reporting/Views); the tally's summary if the store cannot render
        string? summary = null;
        await TryStepAsync(stderr, "write the HTML report and the summary", async () =>
            summary = await Reporting.Views.ReportViews.WriteStopReportsAsync(store, runId, options.StateDir, jobEnv, CancellationToken.None).ConfigureAwait(false)).ConfigureAwait(false);
        if (summary is null)
        {
            await File.WriteAllTextAsync(Path.Combine(options.StateDir, SummaryFileName), RunSummary.Render(runId, mode, started, ended, tally, Math.Max(jsonl?.Dropped ?? 0, stored.Lost)), CancellationToken.None).ConfigureAwait(false);
        }
        else if (Reporting.Views.ReportViews.LinksIn(options.StateDir, runId, jobEnv).InsightsLine() is { } insights)
        {
            stdout.WriteLine($"harden-runner: {insights}");
        }

        if (stopAuthorization.HasToken)
        {
            // a non-root post step stops the appliance with the token and prints these two; nothing else is readable
            TryStep(stderr, "make the summary readable by the stopping step", () =>
            {
                foreach (var name in new[] { SummaryFileName, Reporting.Views.ReportViews.NoticesFileName })
                {
                    var path = Path.Combine(options.StateDir, name);
                    if (File.Exists(path))
                    {
                        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                    }
                }
            });
        }

        // the control socket goes last: 'harden-runner stop' waits for it to disappear, then reads the summary
        if (control is not null)
        {
            await control.DisposeAsync().ConfigureAwait(false);
        }

        return exitCode;
    }

    /// <summary>
    /// The process and step that wrote a file: the process monitor's view, completed from /proc when the monitor has
    /// not processed the writer's exec yet (a write can be read before the exec event that started the writer).
    /// </summary>
    private static (ProcessInfo? Process, StepInfo? Step) WriterOf(IProcessAttributor attributor, int pid)
    {
        var known = attributor.AttributePid(pid);
        if (known.Process is not null && known.Step is not null)
        {
            return (known.Process, known.Step);
        }

        var (process, step) = ProcWriterAttribution.Attribute(pid);
        return (known.Process ?? process, known.Step ?? step);
    }

    /// <summary>Makes every file in the state directory (the store, its WAL, events, logs) owner-only, except the summary.</summary>
    private static void RestrictStateFiles(string stateDir)
    {
        foreach (var file in Directory.EnumerateFiles(stateDir))
        {
            var name = Path.GetFileName(file);
            if (name is SummaryFileName or ControlClient.SocketFileName)
            {
                continue;
            }

            try
            {
                File.SetUnixFileMode(file, File.GetUnixFileMode(file) & (UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // a file that went away meanwhile
            }
        }
    }

    private static string StopRefused(TextWriter stderr, ControlRequest request, string refusal)
    {
        stderr.WriteLine($"harden-runner: refused a stop request from pid {request.PeerPid} (uid {request.PeerUid}): {refusal}");
        return JsonSerializer.Serialize(new Dictionary<string, string> { ["error"] = "stop refused: " + refusal }, ControlJson.Default.DictionaryStringString);
    }

    private static string StopRequested(CancellationTokenSource stopping)
    {
        // answer first, then stop: the client waits for the control socket to disappear
        _ = Task.Run(async () =>
        {
            await Task.Delay(50).ConfigureAwait(false);
            await stopping.CancelAsync().ConfigureAwait(false);
        });
        return "{\"stopping\":true}";
    }

    private static string Status(string runId, EgressMode mode, DateTimeOffset started, ApplianceOptions options, RunTally tally, long eventsLost, bool ready) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["ready"] = ready,
            ["pid"] = Environment.ProcessId,
            ["runId"] = runId,
            ["mode"] = mode == EgressMode.Block ? "block" : "audit",
            ["startedAt"] = started.ToString("O", CultureInfo.InvariantCulture),
            ["stateDir"] = options.StateDir,
            ["dnsPort"] = options.DnsPort,
            ["events"] = tally.Events,
            ["eventsLost"] = eventsLost,
        }, ControlJson.Default.DictionaryStringObject);

    private static string NewRunId() =>
        DateTimeOffset.UtcNow.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3));

    /// <summary>Starts a component; a failure names it (a port in use says which component wanted it).</summary>
    private static async Task StartComponentAsync(string component, Func<Task> start)
    {
        try
        {
            await start().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{component}: {ex.Message}", ex);
        }
    }

    private static void TryStep(TextWriter stderr, string what, Action step)
    {
        try
        {
            step();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or JsonException)
        {
            stderr.WriteLine($"harden-runner: could not {what}: {ex.Message}");
        }
    }

    private static async Task TryStepAsync(TextWriter stderr, string what, Func<Task> step)
    {
        try
        {
            await step().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            stderr.WriteLine($"harden-runner: could not {what}: {ex.Message}");
        }
    }

    /// <summary>True when the proxy would intercept a TLS connection to <paramref name="name"/> on the HTTPS port (what its certificate is minted ahead for).</summary>
    private static bool WouldIntercept(PolicyEngine policy, string name) =>
        policy.DecideConnection(name, Netfilter.NftRulesetBuilder.HttpsPort, Transport.Tcp).IsAllowed && !policy.IsPassthrough(name);

    private static EphemeralCertificateAuthority CreateCertificateAuthority(ApplianceOptions options, string runId, TextWriter stdout)
    {
        if (options.CaDirectory is not { } directory)
        {
            return EphemeralCertificateAuthority.Create(new CertificateAuthorityOptions { Label = runId });
        }

        var ca = PersistentCertificateAuthority.LoadOrCreate(
            directory, new CertificateAuthorityOptions { Lifetime = CertificateAuthorityOptions.MaxLifetime }, out var outcome);
        stdout.WriteLine($"harden-runner: node CA {ca.Id} ({outcome.ToString().ToLowerInvariant()}, valid until {ca.Certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm}Z) from {directory}");
        string[] systemBundles = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];
        PersistentCertificateAuthority.WriteTrustBundle(directory, ca, systemBundles.FirstOrDefault(File.Exists));
        return ca;
    }
}
