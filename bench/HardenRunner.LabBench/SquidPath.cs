using System.Diagnostics;
using System.Globalization;
using HardenRunner.Lab;
using TestLab = HardenRunner.Lab.Lab;

namespace HardenRunner.LabBench;

/// <summary>
/// Squid (Debian's squid-openssl) as a transparent TLS-intercepting proxy in the runner namespace, for comparison:
/// <c>https_port intercept ssl-bump</c>, <c>ssl_bump peek step1</c> then <c>bump all</c>, leaf certificates minted by
/// security_file_certgen from an ECDSA P-256 CA (squid signs leaves with the CA's key pair, as the appliance does),
/// the lab CA as the only upstream root, no caching, access log on. Its own table (<c>inet hrbench_squid</c>, in the
/// lab's runner namespace only) redirects TCP 443 to it, except Squid's own connections (user proxy).
/// Squid runs in the foreground (-N: one process, no SMP kids) and is started afresh for each repetition.
/// </summary>
internal sealed class SquidPath(TestLab lab) : IHttpsPath
{
    private const int Port = 3129;
    private const string Table = "hrbench_squid";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    private readonly string _root = Path.Combine("/tmp", $"hrbench-squid-{Environment.ProcessId}");
    private LabProcess? _process;
    private int _runs;

    public string Name => "squid";

    public int Pid => _process?.Pid ?? 0;

    public IReadOnlyList<string> CurlTrust => ["--cacert", Path.Combine(_root, "ca.pem")];

    public IReadOnlyList<string> CurlSingleCaTrust => CurlTrust;

    /// <summary>Squid 5 speaks HTTP/1.1 to clients only (no h2 in ALPN).</summary>
    public bool SupportsHttp2 => false;

    public async Task StartAsync()
    {
        var run = Path.Combine(_root, "run-" + Interlocked.Increment(ref _runs));
        Directory.CreateDirectory(run);
        if (!File.Exists(Path.Combine(_root, "ca.pem")))
        {
            await MustAsync("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=hrbench squid CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", Path.Combine(_root, "ca.key"), "-out", Path.Combine(_root, "ca.pem")).ConfigureAwait(false);
            File.Copy(lab.CaCertificatePath, Path.Combine(_root, "lab-ca.pem"));
        }

        // squid drops to user proxy: its certificate database, logs and run directory must be proxy's
        var db = Path.Combine(run, "ssl_db");
        await MustAsync("/usr/lib/squid/security_file_certgen", "-c", "-s", db, "-M", "16MB").ConfigureAwait(false);
        await MustAsync("chown", "-R", "proxy:proxy", _root).ConfigureAwait(false);
        await MustAsync("chmod", "755", _root).ConfigureAwait(false);

        var config = Path.Combine(run, "squid.conf");
        await File.WriteAllTextAsync(config, string.Create(CultureInfo.InvariantCulture, $"""
            pid_filename {run}/squid.pid
            cache_log {run}/cache.log
            access_log daemon:{run}/access.log squid
            coredump_dir {run}
            cache_effective_user proxy
            shutdown_lifetime 1 seconds
            cache deny all
            http_access allow all
            http_port 127.0.0.1:3128
            https_port {Port} intercept ssl-bump tls-cert={_root}/ca.pem tls-key={_root}/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
            sslcrtd_program /usr/lib/squid/security_file_certgen -s {db} -M 16MB
            sslcrtd_children 5 startup=1 idle=1
            acl step1 at_step SslBump1
            ssl_bump peek step1
            ssl_bump bump all
            tls_outgoing_options cafile={_root}/lab-ca.pem
            dns_nameservers {lab.DnsV4}
            """)).ConfigureAwait(false);

        _process = lab.StartInRunner("squid", ["-N", "-f", config]);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited || watch.Elapsed > ReadyTimeout)
            {
                var log = File.Exists(Path.Combine(run, "cache.log")) ? await File.ReadAllTextAsync(Path.Combine(run, "cache.log")).ConfigureAwait(false) : "";
                throw new InvalidOperationException("squid did not start:\n" + await _process.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false) + "\n" + log);
            }

            var listening = await lab.RunInRunnerAsync("ss", ["-Hltn", "sport", "=", string.Create(CultureInfo.InvariantCulture, $":{Port}")], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            if (listening.StandardOutput.Contains(string.Create(CultureInfo.InvariantCulture, $":{Port}"), StringComparison.Ordinal))
            {
                break;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        var rules = string.Create(CultureInfo.InvariantCulture, $$"""
            table inet {{Table}} {
              chain output {
                type nat hook output priority -100;
                meta skuid "proxy" return
                tcp dport 443 redirect to :{{Port}}
              }
            }
            """);
        var nft = await lab.RunInRunnerAsync("nft", ["-f", "-"], TimeSpan.FromSeconds(10), standardInput: rules).ConfigureAwait(false);
        if (!nft.Succeeded)
        {
            throw new InvalidOperationException("could not add the redirect for squid:\n" + nft);
        }

        var check = await lab.RunInRunnerAsync("curl", ["-sS", "--fail", "--max-time", "10", .. CurlTrust, "https://allowed.test/"], TimeSpan.FromSeconds(20)).ConfigureAwait(false);
        if (!check.Succeeded)
        {
            throw new InvalidOperationException("a request through squid failed:\n" + check);
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
        await lab.RunInRunnerAsync("nft", ["delete", "table", "inet", Table], TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        process.Terminate();
        var stopped = await process.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        await process.DisposeAsync().ConfigureAwait(false);
        _process = null;
        var log = Directory.GetDirectories(_root, "run-*").OrderBy(d => d, StringComparer.Ordinal).Last();
        var lines = File.Exists(Path.Combine(log, "access.log")) ? File.ReadLines(Path.Combine(log, "access.log")).LongCount() : 0;
        return new ProxyStopInfo(peak, rss, lines, 0, stopped.ExitCode);
    }

    /// <summary>Removes Squid's directory (CA, certificate databases, logs).</summary>
    public void Clean()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private static async Task MustAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })
            ?? throw new InvalidOperationException($"cannot start {file}");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        _ = await process.StandardOutput.ReadToEndAsync(timeout.Token).ConfigureAwait(false);
        await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed: {await stderr.ConfigureAwait(false)}");
        }
    }
}
