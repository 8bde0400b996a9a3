using System.Diagnostics;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.LabBench;

/// <summary>What stopping a proxy under test found out.</summary>
/// <param name="PeakRssMiB">VmHWM of the proxy's process just before it was stopped.</param>
/// <param name="RssMiB">VmRSS at the same moment.</param>
/// <param name="Events">What the proxy recorded: the appliance's events in its store (events.jsonl is off by default), Squid's access.log lines.</param>
/// <param name="DnsEvents">Of those, DNS query events (the appliance also records its proxy's own look-ups).</param>
/// <param name="ExitCode">The proxy's exit code.</param>
internal sealed record ProxyStopInfo(double PeakRssMiB, double RssMiB, long Events, long DnsEvents, int ExitCode);

/// <summary>A way to reach the lab's web servers from the runner namespace: directly, or through a proxy.</summary>
internal interface IHttpsPath
{
    string Name { get; }

    /// <summary>The proxy's process (0 when there is none), for CPU and memory.</summary>
    int Pid { get; }

    /// <summary>curl's trust arguments on this path (curl always verifies): what a job would use.</summary>
    IReadOnlyList<string> CurlTrust { get; }

    /// <summary>curl trusting only the one CA this path presents (the same trust size as direct's lab CA): a new
    /// connection's cost without loading a system bundle of ~140 roots.</summary>
    IReadOnlyList<string> CurlSingleCaTrust { get; }

    /// <summary>Whether clients can speak HTTP/2 on this path (h2load is skipped otherwise).</summary>
    bool SupportsHttp2 { get; }

    Task StartAsync();

    Task<ProxyStopInfo?> StopAsync();
}

/// <summary>The client talks to the lab server itself, trusting the lab CA; nothing runs in between.</summary>
internal sealed class DirectPath(TestLab lab) : IHttpsPath
{
    public string Name => "direct";

    public int Pid => 0;

    public IReadOnlyList<string> CurlTrust => ["--cacert", lab.CaCertificatePath];

    public IReadOnlyList<string> CurlSingleCaTrust => CurlTrust;

    public bool SupportsHttp2 => true;

    public async Task StartAsync()
    {
        // the previous path must have left nothing behind: no redirect, no resolver change
        var tables = await lab.RunInRunnerAsync("nft", ["list", "tables"], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        if (tables.StandardOutput.Contains("harden_runner", StringComparison.Ordinal) || tables.StandardOutput.Contains("hrbench", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("a proxy's nftables table is still in the runner namespace: direct would not be direct\n" + tables.StandardOutput);
        }
    }

    public Task<ProxyStopInfo?> StopAsync() => Task.FromResult<ProxyStopInfo?>(null);
}

/// <summary>
/// The real appliance (<c>harden-runner run</c>, block mode, a policy allowing allowed.test and *.allowed.test on 443)
/// in the runner namespace: its firewall redirects 443 to the proxy, it installs its CA in the (private) system store,
/// and curl trusts nothing but that store. Started afresh for every repetition, so every repetition sees a cold
/// certificate cache and a new process.
/// </summary>
internal sealed class AppliancePath(TestLab lab, string applianceDll, string directory) : IHttpsPath
{
    public const string Policy = """
        egress-policy: block
        allowed-endpoints:
          - allowed.test:443
          - "*.allowed.test:443"
        """;

    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(60);
    private LabProcess? _process;
    private string _state = "";
    private int _runs;

    public string Name => "appliance";

    public int Pid => _process?.Pid ?? 0;

    public IReadOnlyList<string> CurlTrust => [];

    public IReadOnlyList<string> CurlSingleCaTrust => ["--cacert", Path.Combine(_state, "trust", "ca.pem")];

    public bool SupportsHttp2 => true;

    public async Task StartAsync()
    {
        var dir = Path.Combine(directory, "run-" + Interlocked.Increment(ref _runs));
        Directory.CreateDirectory(dir);
        var policy = Path.Combine(dir, "policy.yml");
        await File.WriteAllTextAsync(policy, Policy).ConfigureAwait(false);
        var ready = Path.Combine(dir, "ready");
        _state = Path.Combine(dir, "state");
        var (file, arguments) = BuildOutput.Command(applianceDll, "run", "--policy", policy, "--state-dir", _state, "--ready-file", ready, "--upstream-ca", lab.CaCertificatePath, "--upstream-dns", lab.DnsV4.ToString());
        _process = lab.StartInRunner(file, arguments);
        var watch = Stopwatch.StartNew();
        while (!File.Exists(ready))
        {
            if (_process.HasExited || watch.Elapsed > ReadyTimeout)
            {
                throw new InvalidOperationException("the appliance did not become ready:\n" + await _process.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false));
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        // proof that this path is intercepted: the system store alone must accept the proxy's certificate
        var check = await lab.RunInRunnerAsync("curl", ["-sS", "--fail", "--max-time", "10", "https://allowed.test/"], TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        if (!check.Succeeded)
        {
            throw new InvalidOperationException("a request through the appliance failed:\n" + check);
        }
    }

    public async Task<ProxyStopInfo?> StopAsync()
    {
        if (_process is not { } process)
        {
            return null;
        }

        var peak = ProcessStats.PeakRssMiB(process.Pid);
        var rss = ProcessStats.RssMiB(process.Pid);
        process.Terminate();
        var stopped = await process.WaitAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        await process.DisposeAsync().ConfigureAwait(false);
        _process = null;
        if (stopped.ExitCode != 0)
        {
            throw new InvalidOperationException("the appliance did not stop cleanly:\n" + stopped);
        }

        var (events, dns) = CountStoredEvents(HardenRunner.Store.SqliteEventStore.PathIn(_state));
        return new ProxyStopInfo(peak, rss, events, dns, stopped.ExitCode);
    }

    /// <summary>Every event in the appliance's store (one run per start), and how many of them are DNS queries.</summary>
    private static (long Events, long Dns) CountStoredEvents(string path)
    {
        if (!File.Exists(path))
        {
            return (0, 0);
        }

        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = path, Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT COUNT(*), COALESCE(SUM(net_kind = 'dns'), 0) FROM events";
        using var reader = count.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
