using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using HardenRunner.Control;
using HardenRunner.Hosting;
using HardenRunner.Policy.Model;

namespace HardenRunner.Cli.Commands;

/// <summary><c>harden-runner run | start | stop | status</c>.</summary>
internal static partial class LifecycleCommands
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Lets a non-root caller stop the appliance (the GitHub Action's post step); see StopAuthorization.</summary>
    internal const string StopTokenVariable = "HARDEN_RUNNER_STOP_TOKEN";

    public static IEnumerable<Command> Create(TextWriter stdout, TextWriter stderr)
    {
        yield return Run(stdout, stderr);
        yield return Start(stdout, stderr);
        yield return Stop(stdout, stderr);
        yield return Status(stdout, stderr);
        yield return Service(stdout, stderr);
    }

    /// <summary><c>--store</c> (run, start, report); <c>$HARDEN_RUNNER_STORE</c> when absent (docs/store.md).</summary>
    internal static Option<string?> StoreOption() => new("--store")
    {
        Description = $"Where runs are stored: sqlite (the file in the state directory, default) or postgres://USER@HOST[:PORT]/DATABASE (fleet mode). Default ${HardenRunner.Store.StoreSelection.EnvironmentVariable}; give passwords there or in PGPASSWORD, not on the command line.",
    };

    internal static Option<string> StateDirOption() => new("--state-dir")
    {
        Description = "State directory (control socket, events, reports).",
        DefaultValueFactory = _ => ApplianceOptions.DefaultStateDir,
    };

    private sealed class RunOptions
    {
        public Option<string?> Policy { get; } = new("--policy") { Description = "Policy file (default $GITHUB_WORKSPACE/.harden/policy.yml or ./.harden/policy.yml)." };

        public Option<string?> Egress { get; } = CreateEgress();

        public Option<string?> AllowedEndpoints { get; } = new("--allowed-endpoints") { Description = "Endpoints added to the policy's (\"host:port host:port\")." };

        public Option<string?> Workspace { get; } = new("--workspace") { Description = "The job's workspace (default $GITHUB_WORKSPACE)." };

        public Option<string> StateDir { get; } = StateDirOption();

        public Option<string?> Store { get; } = StoreOption();

        public Option<string?> UpstreamDns { get; } = new("--upstream-dns") { Description = "Upstream resolver ADDR[:PORT] (default: the system's real upstream)." };

        public Option<string?> UpstreamCa { get; } = new("--upstream-ca") { Description = "Extra roots trusted for upstream TLS (PEM file)." };

        public Option<string?> CaDir { get; } = new("--ca-dir") { Description = "Keep one CA per node in DIR across restarts (DaemonSet); default: a new in-memory CA per run." };

        public Option<string?> ReadyFile { get; } = new("--ready-file") { Description = "Written once enforcement is in place." };

        public Option<bool> DisableSudo { get; } = new("--disable-sudo") { Description = "Remove the runner user's sudo rights until stop (restored byte for byte)." };

        public Option<bool> DisableSudoAndContainers { get; } = new("--disable-sudo-and-containers") { Description = "As --disable-sudo, and lock the container runtime sockets (docker, containerd, podman)." };

        public Option<bool> DisableFileMonitoring { get; } = new("--disable-file-monitoring") { Description = "Do not monitor the workspace's files." };

        public Option<bool> EventsJsonl { get; } = new("--events-jsonl")
        {
            Description = "Also write every event as a JSON line to events.jsonl in the state directory (for log shippers); default: $HARDEN_RUNNER_EVENTS_JSONL=1, else off (the store is the record).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("HARDEN_RUNNER_EVENTS_JSONL") is "1" or "true",
        };

        public Option<string?> RunnerUser { get; } = new("--runner-user") { Description = "The runner's user for --disable-sudo (default $SUDO_USER, else runner)." };

        public Option<int> DnsPort { get; } = new("--dns-port") { Description = "Loopback port of the DNS server.", DefaultValueFactory = _ => ApplianceOptions.DefaultDnsPort, Hidden = true };

        public Option<string> ResolvConf { get; } = new("--resolv-conf") { Description = "The resolver configuration to point at the appliance.", DefaultValueFactory = _ => "/etc/resolv.conf", Hidden = true };

        public Option<string> ProcConnectorNetns { get; } = new("--proc-connector-netns") { Description = "A namespace file of the initial network namespace (for the kernel proc connector).", DefaultValueFactory = _ => Environment.GetEnvironmentVariable("HARDEN_RUNNER_PROC_CONNECTOR_NETNS") is { Length: > 0 } ns ? ns : "/proc/1/ns/net", Hidden = true };

        public void AddTo(Command cmd)
        {
            cmd.Options.Add(Policy);
            cmd.Options.Add(Egress);
            cmd.Options.Add(AllowedEndpoints);
            cmd.Options.Add(Workspace);
            cmd.Options.Add(StateDir);
            cmd.Options.Add(Store);
            cmd.Options.Add(UpstreamDns);
            cmd.Options.Add(UpstreamCa);
            cmd.Options.Add(CaDir);
            cmd.Options.Add(ReadyFile);
            cmd.Options.Add(DisableSudo);
            cmd.Options.Add(DisableSudoAndContainers);
            cmd.Options.Add(DisableFileMonitoring);
            cmd.Options.Add(EventsJsonl);
            cmd.Options.Add(RunnerUser);
            cmd.Options.Add(DnsPort);
            cmd.Options.Add(ResolvConf);
            cmd.Options.Add(ProcConnectorNetns);
        }

        public ApplianceOptions Bind(ParseResult p) => new()
        {
            PolicyPath = p.GetValue(Policy),
            EgressOverride = p.GetValue(Egress) switch { "audit" => EgressMode.Audit, "block" => EgressMode.Block, _ => null },
            AllowedEndpoints = p.GetValue(AllowedEndpoints),
            Workspace = p.GetValue(Workspace),
            StateDir = Path.GetFullPath(p.GetValue(StateDir)!),
            Store = HardenRunner.Store.StoreSelection.Resolve(p.GetValue(Store), Environment.GetEnvironmentVariable),
            UpstreamDns = p.GetValue(UpstreamDns),
            UpstreamCa = p.GetValue(UpstreamCa),
            CaDirectory = p.GetValue(CaDir) is { } caDir ? Path.GetFullPath(caDir) : null,
            ReadyFile = p.GetValue(ReadyFile) is { } r ? Path.GetFullPath(r) : null,
            DnsPort = p.GetValue(DnsPort),
            DisableSudo = p.GetValue(DisableSudo),
            DisableSudoAndContainers = p.GetValue(DisableSudoAndContainers),
            DisableFileMonitoring = p.GetValue(DisableFileMonitoring),
            EventsJsonl = p.GetValue(EventsJsonl),
            RunnerUser = p.GetValue(RunnerUser),
            StopToken = Environment.GetEnvironmentVariable(StopTokenVariable) is { Length: > 0 } token ? token : null,
            ResolvConfPath = p.GetValue(ResolvConf)!,
            ProcConnectorNetworkNamespace = p.GetValue(ProcConnectorNetns)!,
        };

        private static Option<string?> CreateEgress()
        {
            var o = new Option<string?>("--egress-policy") { Description = "audit or block (overrides the policy file)." };
            o.AcceptOnlyFromAmong("audit", "block");
            return o;
        }
    }

    private static Command Run(TextWriter stdout, TextWriter stderr)
    {
        var opts = new RunOptions();
        var cmd = new Command("run", "Run the appliance in the foreground until SIGTERM/SIGINT; then remove its rules and write the reports.");
        opts.AddTo(cmd);
        cmd.SetAction(async (parse, ct) => await Appliance.RunAsync(opts.Bind(parse), stdout, stderr, ct).ConfigureAwait(false));
        return cmd;
    }

    private static Command Start(TextWriter stdout, TextWriter stderr)
    {
        var opts = new RunOptions();
        var cmd = new Command("start", "Start the appliance in the background; returns once enforcement is in place (non-zero, with the reason, if it cannot be).");
        opts.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            var options = opts.Bind(parse);
            Directory.CreateDirectory(options.StateDir);
            if (await ControlClient.SendAsync(options.StateDir, "status", TimeSpan.FromSeconds(2), ct).ConfigureAwait(false) is not null)
            {
                stderr.WriteLine($"error: an appliance is already running with state directory {options.StateDir}");
                return ExitCodes.Failure;
            }

            var ready = Path.Combine(options.StateDir, "ready");
            File.Delete(ready);
            var logPath = Path.Combine(options.StateDir, "appliance.log");
            var args = ForwardedArgs(parse, opts, ready);

            // the store goes to the appliance in its environment, never on its command line (it may hold a password)
            using var child = SpawnDetached(args, logPath, options.Store);
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < StartTimeout)
            {
                if (File.Exists(ready))
                {
                    var reply = await ControlClient.SendAsync(options.StateDir, "status", TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                    stdout.WriteLine($"harden-runner: started (pid {child.Id}); {Describe(reply)}");
                    if (options.ReadyFile is not null)
                    {
                        File.Copy(ready, options.ReadyFile, overwrite: true);
                    }

                    return ExitCodes.Success;
                }

                if (child.HasExited)
                {
                    stderr.WriteLine($"error: the appliance exited with code {child.ExitCode} before enforcement was in place:");
                    foreach (var line in TailLines(logPath, 30))
                    {
                        stderr.WriteLine("  " + line);
                    }

                    return child.ExitCode == ExitCodes.InvalidInput ? ExitCodes.InvalidInput : ExitCodes.Failure;
                }

                await Task.Delay(50, ct).ConfigureAwait(false);
            }

            stderr.WriteLine($"error: the appliance was not ready after {StartTimeout.TotalSeconds:0} s; see {logPath}");
            await ControlClient.SendAsync(options.StateDir, "stop", TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
            return ExitCodes.Failure;
        });
        return cmd;
    }

    private static Command Stop(TextWriter stdout, TextWriter stderr)
    {
        var stateDir = StateDirOption();
        var cmd = new Command("stop", "Stop the background appliance, wait for its reports, and append the summary to $GITHUB_STEP_SUMMARY when set.") { stateDir };
        cmd.SetAction(async (parse, ct) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(stateDir)!);
            var token = Environment.GetEnvironmentVariable(StopTokenVariable);
            var reply = await ControlClient.SendAsync(dir, string.IsNullOrEmpty(token) ? "stop" : "stop " + token, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
            if (reply is null)
            {
                stderr.WriteLine($"error: no running appliance answers on {Path.Combine(dir, ControlClient.SocketFileName)}");
                return ExitCodes.Failure;
            }

            if (reply.Contains("\"error\"", StringComparison.Ordinal))
            {
                stderr.WriteLine($"error: the appliance refused to stop: {reply}");
                return ExitCodes.Failure;
            }

            var watch = Stopwatch.StartNew();
            while (File.Exists(Path.Combine(dir, ControlClient.SocketFileName)) && watch.Elapsed < StopTimeout)
            {
                await Task.Delay(50, ct).ConfigureAwait(false);
            }

            if (File.Exists(Path.Combine(dir, ControlClient.SocketFileName)))
            {
                stderr.WriteLine($"error: the appliance did not stop within {StopTimeout.TotalSeconds:0} s");
                return ExitCodes.Failure;
            }

            var summary = Path.Combine(dir, Appliance.SummaryFileName);
            if (File.Exists(summary))
            {
                try
                {
                    var text = await File.ReadAllTextAsync(summary, ct).ConfigureAwait(false);
                    StopOutput.WriteUntrusted(stdout, text, Environment.GetEnvironmentVariable);
                    if (Environment.GetEnvironmentVariable("GITHUB_STEP_SUMMARY") is { Length: > 0 } stepSummary)
                    {
                        await File.AppendAllTextAsync(stepSummary, text, ct).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"harden-runner: the appliance stopped, but its summary could not be read: {ex.Message}");
                }
            }

            await StopOutput.WriteNoticesAsync(stdout, stderr, dir, Environment.GetEnvironmentVariable, ct).ConfigureAwait(false);

            return ExitCodes.Success;
        });
        return cmd;
    }

    private static Command Status(TextWriter stdout, TextWriter stderr)
    {
        var stateDir = StateDirOption();
        var wait = new Option<double>("--wait") { Description = "Wait up to SECONDS for the appliance to be ready." };
        var cmd = new Command("status", "Whether an appliance is running and ready.") { stateDir, wait };
        cmd.SetAction(async (parse, ct) =>
        {
            var dir = Path.GetFullPath(parse.GetValue(stateDir)!);
            var watch = Stopwatch.StartNew();
            var limit = TimeSpan.FromSeconds(Math.Max(0, parse.GetValue(wait)));
            while (true)
            {
                var reply = await ControlClient.SendAsync(dir, "status", TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                if (reply is not null && IsReady(reply))
                {
                    stdout.WriteLine(reply);
                    return ExitCodes.Success;
                }

                if (watch.Elapsed >= limit)
                {
                    stderr.WriteLine(reply is null ? $"not running (state directory {dir})" : $"running, not ready: {reply}");
                    return ExitCodes.Failure;
                }

                await Task.Delay(100, ct).ConfigureAwait(false);
            }
        });
        return cmd;
    }

    private static bool IsReady(string reply)
    {
        try
        {
            using var doc = JsonDocument.Parse(reply);
            return doc.RootElement.TryGetProperty("ready", out var r) && r.ValueKind == JsonValueKind.True;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Describe(string? statusReply)
    {
        if (statusReply is null)
        {
            return "status unknown";
        }

        try
        {
            using var doc = JsonDocument.Parse(statusReply);
            var root = doc.RootElement;
            return $"{root.GetProperty("mode").GetString()} mode, run {root.GetProperty("runId").GetString()}, state {root.GetProperty("stateDir").GetString()}";
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return statusReply;
        }
    }

    private static List<string> ForwardedArgs(ParseResult parse, RunOptions opts, string readyFile)
    {
        var args = new List<string> { "run" };
        void Add(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
            {
                args.Add(name);
                args.Add(value);
            }
        }

        Add("--policy", parse.GetValue(opts.Policy) is { } p ? Path.GetFullPath(p) : null);
        Add("--egress-policy", parse.GetValue(opts.Egress));
        Add("--allowed-endpoints", parse.GetValue(opts.AllowedEndpoints));
        Add("--workspace", parse.GetValue(opts.Workspace) is { } w ? Path.GetFullPath(w) : null);
        Add("--state-dir", Path.GetFullPath(parse.GetValue(opts.StateDir)!));
        Add("--upstream-dns", parse.GetValue(opts.UpstreamDns));
        Add("--upstream-ca", parse.GetValue(opts.UpstreamCa) is { } ca ? Path.GetFullPath(ca) : null);
        Add("--ca-dir", parse.GetValue(opts.CaDir) is { } caDir ? Path.GetFullPath(caDir) : null);
        Add("--dns-port", parse.GetValue(opts.DnsPort).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Add("--resolv-conf", parse.GetValue(opts.ResolvConf));
        Add("--proc-connector-netns", parse.GetValue(opts.ProcConnectorNetns));
        Add("--ready-file", readyFile);
        Add("--runner-user", parse.GetValue(opts.RunnerUser));
        foreach (var flag in new[] { opts.DisableSudo, opts.DisableSudoAndContainers, opts.DisableFileMonitoring, opts.EventsJsonl })
        {
            if (parse.GetValue(flag))
            {
                args.Add(flag.Name);
            }
        }

        return args;
    }

    /// <summary>Starts this executable again in its own session (setsid), so the appliance outlives the step that started it.</summary>
    private static Process SpawnDetached(List<string> args, string logPath, string? store)
    {
        // setsid without --fork: our child is not a process-group leader, so setsid execs in place and the pid we
        // hold is the appliance's own (its exit code tells start why it failed)
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false };
        if (store is not null)
        {
            psi.Environment[HardenRunner.Store.StoreSelection.EnvironmentVariable] = store;
        }

        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this executable");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" >>\"$0\" 2>&1 </dev/null");
        psi.ArgumentList.Add(logPath);
        psi.ArgumentList.Add(self);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            // under the dotnet host (a framework-dependent build): the entry assembly beside this process's files; a
            // Native AOT build is its own executable and never gets here
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, typeof(Program).Assembly.GetName().Name + ".dll"));
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        return Process.Start(psi) ?? throw new InvalidOperationException("could not start the appliance");
    }

    private static IEnumerable<string> TailLines(string path, int count) =>
        File.Exists(path) ? File.ReadLines(path).TakeLast(count) : ["(no log)"];
}
