using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using HardenRunner.Lab.Contract;
using HardenRunner.Lab.Internal;

namespace HardenRunner.Lab;

/// <summary>
/// A throwaway network lab: a runner namespace (network + private mount namespace) joined by a veth pair to an
/// internet namespace that runs HardenRunner.LabInternet (DNS that logs every query, HTTP/HTTPS servers with lab-CA
/// certificates, raw TCP/UDP recorders). See README.md beside this file for the topology and addresses.
/// Dispose removes everything it created (processes by PID, namespaces, mounts, temp files), also after failures.
/// </summary>
public sealed class Lab : IAsyncDisposable
{
    private readonly List<LabProcess> _processes = [];
    private readonly Lock _lock = new();
    private readonly LabOptions _options;
    private RunnerMountNamespace? _mount;
    private LabProcess? _internet;
    private int _disposed;

    private Lab(string id, LabOptions options, string stateDirectory)
    {
        Id = id;
        _options = options;
        StateDirectory = stateDirectory;
        Hosts = [.. options.Hosts];
        Ca = LabCa.Create();
        var logs = Path.Combine(stateDirectory, "logs");
        DnsLog = new LabLog<DnsQueryRecord>(Path.Combine(logs, LabJson.DnsLogFile));
        HttpLog = new LabLog<HttpRequestRecord>(Path.Combine(logs, LabJson.HttpLogFile));
        TcpLog = new LabLog<TcpConnectionRecord>(Path.Combine(logs, LabJson.TcpLogFile));
        UdpLog = new LabLog<UdpDatagramRecord>(Path.Combine(logs, LabJson.UdpLogFile));
    }

    /// <summary>Unique per lab: <c>hrlab-{owner pid}-{n}</c>; the namespaces are <c>{Id}-r</c> and <c>{Id}-i</c>.</summary>
    public string Id { get; }

    public string RunnerNamespace => Id + "-r";

    public string InternetNamespace => Id + "-i";

    /// <summary>The container namespace (only with <see cref="LabOptions.Container"/>).</summary>
    public string ContainerNamespace => Id + "-c";

    /// <summary>For <c>nsenter --net=…</c> or <c>setns</c>.</summary>
    public string RunnerNetworkNamespacePath => "/run/netns/" + RunnerNamespace;

    /// <summary>The runner's private mount namespace (valid while the lab lives), for <c>nsenter --mount=…</c>.</summary>
    public string RunnerMountNamespacePath => (_mount ?? throw new InvalidOperationException("the lab is not started")).Path;

    /// <summary>The lab's temp directory (owner-only); removed at dispose.</summary>
    public string StateDirectory { get; }

    /// <summary>Default working directory of runner processes; a place for test files (visible inside and outside).</summary>
    public string WorkDirectory => Path.Combine(StateDirectory, "work");

    /// <summary>Served read-only by every lab web server under <c>/git/</c>: put bare repositories (after <c>git update-server-info</c>) in <c>StaticDirectory/git/</c> for dumb-HTTP clone tests.</summary>
    public string StaticDirectory => Path.Combine(StateDirectory, "www");

    public LabCa Ca { get; }

    /// <summary>PEM of the lab root CA (for <c>curl --cacert</c>, <c>--upstream-ca</c>, …).</summary>
    public string CaCertificatePath => Path.Combine(StateDirectory, "certs", "lab-ca.pem");

    public IReadOnlyList<LabHost> Hosts { get; }

    public LabHost Allowed => Host(LabHosts.Allowed.Name);

    public LabHost Exfil => Host(LabHosts.Exfil.Name);

    public LabHost GitHubApi => Host(LabHosts.GitHubApi.Name);

    public LabHost GitHub => Host(LabHosts.GitHub.Name);

    public LabHost Attacker => Host(LabHosts.Attacker.Name);

    public IPAddress DnsV4 => LabAddresses.DnsV4;

    public IPAddress DnsV6 => LabAddresses.DnsV6;

    public LabLog<DnsQueryRecord> DnsLog { get; }

    public LabLog<HttpRequestRecord> HttpLog { get; }

    public LabLog<TcpConnectionRecord> TcpLog { get; }

    public LabLog<UdpDatagramRecord> UdpLog { get; }

    /// <summary>PID of the lab internet process (inside the internet namespace).</summary>
    public int LabInternetPid => _internet?.Pid ?? 0;

    /// <summary>Problems met while disposing (also written to stderr); empty after a clean teardown.</summary>
    public IReadOnlyList<string> CleanupProblems { get; private set; } = [];

    public LabHost Host(string name) =>
        Hosts.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new KeyNotFoundException($"this lab has no host named '{name}'; hosts: {string.Join(", ", Hosts.Select(h => h.Name))}");

    /// <summary>
    /// Removes labs left by dead processes (namespaces <c>hrlab-{pid}-…</c> whose owner pid is gone: their
    /// processes, namespaces and temp directories). <see cref="StartAsync"/> does this once per process by itself.
    /// </summary>
    public static Task CleanStaleLabsAsync() => LabJanitor.SweepStaleAsync();

    public static async Task<Lab> StartAsync(LabOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new LabOptions();
        if (!OperatingSystem.IsLinux() || !LabEnvironment.IsRoot)
        {
            throw new LabException(LabEnvironment.SkipReason!);
        }

        Validate(options);
        await LabJanitor.SweepStaleOnceAsync().ConfigureAwait(false);
        var id = LabJanitor.NewId();
        var state = Path.Combine(LabJanitor.StateRoot, id);
        Directory.CreateDirectory(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var lab = new Lab(id, options, state);
        try
        {
            await lab.BuildAsync(cancellationToken).ConfigureAwait(false);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs a real client (curl, dig, python3, git, …) in the runner's network and mount namespaces and waits for it.
    /// On timeout the process is killed and the result says <c>TimedOut</c>. The environment is this process's,
    /// minus proxy and CA-bundle variables, plus <paramref name="environment"/>.
    /// </summary>
    public async Task<LabProcessResult> RunInRunnerAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        IDictionary<string, string>? environment = null,
        string? standardInput = null,
        string? workingDirectory = null,
        CancellationToken cancellationToken = default)
    {
        await using var process = StartInRunner(fileName, arguments, environment, standardInput, workingDirectory);
        return await process.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts a long-running process (e.g. the appliance) in the runner namespaces; the lab kills it at dispose.</summary>
    public LabProcess StartInRunner(
        string fileName,
        IEnumerable<string> arguments,
        IDictionary<string, string>? environment = null,
        string? standardInput = null,
        string? workingDirectory = null)
    {
        var command = RunnerCommand(fileName, arguments, workingDirectory);
        return Track(LabProcess.Start(command[0], command.Skip(1), ToOverrides(environment), standardInput, null));
    }

    /// <summary>
    /// Runs a program in the container namespace (network only; files are the runner's private mount namespace,
    /// like a container started from the runner's image), e.g. <c>dig @192.0.2.53 …</c> or <c>curl</c>.
    /// </summary>
    public async Task<LabProcessResult> RunInContainerAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, IDictionary<string, string>? environment = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (!_options.Container)
        {
            throw new InvalidOperationException("this lab has no container namespace (LabOptions.Container)");
        }

        string[] command = ["nsenter", "--net=/run/netns/" + ContainerNamespace, "--mount=" + RunnerMountNamespacePath, "--wd=" + WorkDirectory, "--", fileName, .. arguments];
        await using var process = Track(LabProcess.Start(command[0], command.Skip(1), ToOverrides(environment), null, null));
        return await process.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a command inside the internet namespace (e.g. to inspect it); the host's mount namespace is used.</summary>
    public async Task<LabProcessResult> RunInInternetAsync(string fileName, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        await using var process = Track(LabProcess.Start("ip", ["netns", "exec", InternetNamespace, fileName, .. arguments], null, null, null));
        return await process.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The argv that runs a command in the runner namespaces, for callers that start processes themselves.</summary>
    public IReadOnlyList<string> RunnerCommand(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        ThrowIfDisposed();
        return
        [
            "nsenter",
            "--net=" + RunnerNetworkNamespacePath,
            "--mount=" + RunnerMountNamespacePath,
            "--wd=" + (workingDirectory ?? WorkDirectory),
            "--",
            fileName,
            .. arguments,
        ];
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var problems = new List<string>();
        LabProcess[] processes;
        lock (_lock)
        {
            processes = [.. _processes];
            _processes.Clear();
        }

        foreach (var process in processes.Reverse())
        {
            try
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                problems.Add($"killing {process}: {e.Message}");
            }
        }

        foreach (var name in LabJanitor.NamespacesOf(Id))
        {
            try
            {
                problems.AddRange(await LabJanitor.RemoveNamespaceAsync(name).ConfigureAwait(false));
            }
            catch (LabException e)
            {
                problems.Add(e.Message);
            }
        }

        problems.AddRange(LabJanitor.RemoveDirectory(StateDirectory));
        Ca.Dispose();
        CleanupProblems = problems;
        foreach (var problem in problems)
        {
            await Console.Error.WriteLineAsync($"lab {Id}: cleanup: {problem}").ConfigureAwait(false);
        }
    }

    private async Task BuildAsync(CancellationToken cancellationToken)
    {
        var privateDirectories = RunnerMountNamespace.Validate(_options.ExtraPrivateDirectories, StateDirectory);
        var dll = LabInternetLauncher.Locate(_options.LabInternetPath);
        Directory.CreateDirectory(WorkDirectory);
        Directory.CreateDirectory(StaticDirectory);
        Directory.CreateDirectory(Path.GetDirectoryName(DnsLog.Path)!);
        var config = WriteCertificatesAndConfig();
        var configPath = Path.Combine(StateDirectory, "lab-internet.json");
        await File.WriteAllTextAsync(configPath, JsonSerializer.Serialize(config, LabJson.Options), cancellationToken).ConfigureAwait(false);

        await Topology.CreateAsync(RunnerNamespace, InternetNamespace, Hosts, _options.RunnerDefaultRoute, cancellationToken).ConfigureAwait(false);
        if (_options.Container)
        {
            await Topology.CreateContainerAsync(RunnerNamespace, InternetNamespace, ContainerNamespace, _options.ContainerRouted, cancellationToken).ConfigureAwait(false);
        }

        var resolvConf = $"# HardenRunner lab {Id}: the lab's upstream DNS\nnameserver {LabAddresses.DnsV4}\nnameserver {LabAddresses.DnsV6}\n";
        var mount = RunnerMountNamespace.CreateAsync(
            RunnerNamespace, Path.Combine(StateDirectory, "private"), privateDirectories, resolvConf, p => Track(p), _options.StartTimeout, cancellationToken);
        var internet = LabInternetLauncher.StartAsync(
            InternetNamespace, dll, configPath, config.ReadyFile, p => Track(p), _options.StartTimeout, cancellationToken);
        try
        {
            await Task.WhenAll(mount, internet).ConfigureAwait(false);
        }
        catch when (mount.IsFaulted && internet.IsFaulted)
        {
            throw new AggregateException(mount.Exception!.InnerExceptions.Concat(internet.Exception!.InnerExceptions));
        }

        _mount = await mount.ConfigureAwait(false);
        _internet = await internet.ConfigureAwait(false);
    }

    private LabInternetConfig WriteCertificatesAndConfig()
    {
        var certs = Path.Combine(StateDirectory, "certs");
        Directory.CreateDirectory(certs);
        Ca.WriteCertificatePem(CaCertificatePath);
        var config = new LabInternetConfig
        {
            LogDirectory = Path.GetDirectoryName(DnsLog.Path)!,
            ReadyFile = Path.Combine(StateDirectory, "lab-internet.ready"),
            CaCertificateFile = CaCertificatePath,
            StaticRoot = StaticDirectory,
            TcpPorts = [.. _options.TcpPorts],
            UdpPorts = [.. _options.UdpPorts],
            DnsListeners =
            [
                new() { Name = "resolver", Address = LabAddresses.DnsV4.ToString() },
                new() { Name = "resolver", Address = LabAddresses.DnsV6.ToString() },
            ],
        };

        for (var i = 0; i < Hosts.Count; i++)
        {
            var host = Hosts[i];
            var certificateFile = Path.Combine(certs, string.Create(CultureInfo.InvariantCulture, $"host{i}.pem"));
            var keyFile = Path.Combine(certs, string.Create(CultureInfo.InvariantCulture, $"host{i}.key"));
            using (var leaf = Ca.IssueServerCertificate(host.EffectiveCertificateNames))
            {
                LabCa.WritePemPair(leaf, certificateFile, keyFile);
            }

            config.Servers.Add(new LabServerConfig
            {
                Name = host.Name,
                Addresses = [host.V4.ToString(), host.V6.ToString()],
                CertificateFile = certificateFile,
                KeyFile = keyFile,
                CertificateNames = [.. host.EffectiveCertificateNames],
            });
            foreach (var name in host.DnsNames)
            {
                config.Zone.Add(new LabZoneRecord { Name = name, Type = "A", Value = host.V4.ToString() });
                config.Zone.Add(new LabZoneRecord { Name = name, Type = "AAAA", Value = host.V6.ToString() });
            }

            if (host.ServesDns)
            {
                config.DnsListeners.Add(new() { Name = host.Name, Address = host.V4.ToString() });
                config.DnsListeners.Add(new() { Name = host.Name, Address = host.V6.ToString() });
            }
        }

        config.Zone.AddRange(_options.DnsRecords.Select(r => new LabZoneRecord { Name = r.Name, Type = r.Type, Value = r.Value, Ttl = r.Ttl }));
        return config;
    }

    private static void Validate(LabOptions options)
    {
        var problems = new StringBuilder();
        foreach (var group in options.Hosts.GroupBy(h => h.Name, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1))
        {
            problems.Append(CultureInfo.InvariantCulture, $"host name '{group.Key}' is used twice; ");
        }

        var reserved = new[] { LabAddresses.RunnerV4, LabAddresses.RunnerV6, LabAddresses.InternetV4, LabAddresses.InternetV6, LabAddresses.DnsV4, LabAddresses.DnsV6 };
        foreach (var group in options.Hosts.SelectMany(h => h.Addresses).Concat(reserved).GroupBy(a => a).Where(g => g.Count() > 1))
        {
            problems.Append(CultureInfo.InvariantCulture, $"address {group.Key} is used twice (or is a link/DNS address); ");
        }

        foreach (var host in options.Hosts)
        {
            if (host.V4.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork
                || host.V6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                problems.Append(CultureInfo.InvariantCulture, $"host '{host.Name}' needs an IPv4 and an IPv6 address; ");
            }
        }

        if (problems.Length > 0)
        {
            throw new ArgumentException("invalid lab options: " + problems.ToString().TrimEnd(' ', ';'), nameof(options));
        }
    }

    private static List<KeyValuePair<string, string?>>? ToOverrides(IDictionary<string, string>? environment)
        => environment?.Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)).ToList();

    private LabProcess Track(LabProcess process)
    {
        lock (_lock)
        {
            if (_disposed != 0)
            {
                process.Kill();
                throw new ObjectDisposedException(nameof(Lab));
            }

            _processes.RemoveAll(p => p.IsDisposed);
            _processes.Add(process);
        }

        return process;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);
}
