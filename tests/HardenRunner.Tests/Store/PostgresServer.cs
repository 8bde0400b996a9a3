using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Npgsql;

namespace HardenRunner.Tests.Store;

/// <summary>
/// A real, private PostgreSQL server for tests and benchmarks: Debian's server binaries (<c>/usr/lib/postgresql/N/bin</c>,
/// the package <c>postgresql</c>), <c>initdb</c> into a temporary directory, listening only on 127.0.0.1 on a free port
/// and on a Unix socket in that directory, password (SCRAM) authentication over TCP. PostgreSQL refuses to run as
/// root, so under root every server command runs as the <c>postgres</c> system user (<c>runuser</c>). The server is
/// stopped by its PID (from <c>postmaster.pid</c>) and its directory deleted at dispose.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string User = "harden";

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private readonly string _bin;
    private readonly string? _runAs;
    private readonly bool _durable;
    private int _pid;
    private int _databases;

    private PostgresServer(string bin, string? runAs, string root, string password, int port, bool durable)
    {
        _bin = bin;
        _runAs = runAs;
        Root = root;
        Password = password;
        Port = port;
        _durable = durable;
    }

    /// <summary>The temporary directory (data directory, socket, log).</summary>
    public string Root { get; }

    public string DataDir => Path.Combine(Root, "data");

    public string LogFile => Path.Combine(Root, "server.log");

    public string Password { get; }

    public int Port { get; }

    /// <summary>The postmaster's PID while it runs, else 0.</summary>
    public int Pid => _pid;

    /// <summary>The directory holding the server binaries: <c>$HARDEN_TEST_PG_BIN</c>, else the newest <c>/usr/lib/postgresql/*/bin</c>.</summary>
    public static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("HARDEN_TEST_PG_BIN") is { Length: > 0 } configured)
        {
            return configured;
        }

        var found = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : -1))
                .Where(x => File.Exists(Path.Combine(x.Dir, "initdb")) && File.Exists(Path.Combine(x.Dir, "postgres")))
                .OrderByDescending(x => x.Version)
                .Select(x => x.Dir)
                .FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's 'postgresql' package (.ci/run does), or set HARDEN_TEST_PG_BIN");
    }

    /// <summary>initdb and start a server. <paramref name="durable"/> false turns fsync off (tests); true keeps PostgreSQL's defaults (benchmarks).</summary>
    public static async Task<PostgresServer> StartAsync(bool durable = false)
    {
        var bin = FindBinaries();
        var runAs = Environment.IsPrivilegedProcess ? "postgres" : null;
        // under root the server user must reach the directory: /tmp, not a TMPDIR that may be private to root
        var root = runAs is null
            ? Directory.CreateTempSubdirectory("hr-pg-").FullName
            : Directory.CreateDirectory(Path.Combine("/tmp", "hr-pg-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(6)).ToLowerInvariant()), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute).FullName;
        var password = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        var server = new PostgresServer(bin, runAs, root, password, FreePort(), durable);
        try
        {
            var pwfile = Path.Combine(root, "pwfile");
            await File.WriteAllTextAsync(pwfile, password + "\n");
            if (runAs is not null)
            {
                await RunAsync("chown", ["-R", $"{runAs}:", root]);
            }

            await server.AsServerUserAsync("initdb", ["-D", server.DataDir, "-U", User, "--pwfile", pwfile, "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"]);
            File.Delete(pwfile);
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the (stopped) server again on the same data directory and port.</summary>
    public async Task StartAsync()
    {
        if (_pid != 0)
        {
            throw new InvalidOperationException("the server is running");
        }

        var options = string.Join(' ', new[]
        {
            "-c listen_addresses=127.0.0.1",
            $"-p {Port.ToString(CultureInfo.InvariantCulture)}",
            $"-k {Root}",
            "-c max_connections=200",
        }.Concat(_durable ? [] : ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]));
        await AsServerUserAsync("pg_ctl", ["-D", DataDir, "-l", LogFile, "-w", "-t", "60", "-o", options, "start"]);
        var pidLine = File.ReadLines(Path.Combine(DataDir, "postmaster.pid")).First();
        _pid = int.Parse(pidLine, NumberStyles.None, CultureInfo.InvariantCulture);
    }

    /// <summary>Stops the server by its PID (SIGINT: fast shutdown, clients are disconnected) and waits until it is gone.</summary>
    public async Task StopAsync()
    {
        var pid = _pid;
        if (pid == 0)
        {
            return;
        }

        await RunAsync("kill", ["-INT", pid.ToString(CultureInfo.InvariantCulture)], allowFailure: true);
        var watch = Stopwatch.StartNew();
        while (Directory.Exists($"/proc/{pid}") && watch.Elapsed < StopTimeout)
        {
            await Task.Delay(50);
        }

        if (Directory.Exists($"/proc/{pid}"))
        {
            await RunAsync("kill", ["-KILL", pid.ToString(CultureInfo.InvariantCulture)], allowFailure: true);
        }

        _pid = 0;
    }

    /// <summary>The location of <paramref name="database"/> (with the password, as a URI like an operator would write it).</summary>
    public string UriText(string database) =>
        string.Create(CultureInfo.InvariantCulture, $"postgres://{User}:{Password}@127.0.0.1:{Port}/{database}");

    /// <summary>The location of <paramref name="database"/> through the server's Unix socket (no password: local connections are trusted).</summary>
    public string SocketUriText(string database) =>
        string.Create(CultureInfo.InvariantCulture, $"postgres://{User}@localhost:{Port}/{database}?host={Root}");

    /// <summary>A connection string for raw SQL in tests.</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = User,
        Password = Password,
        Pooling = false,
    }.ConnectionString;

    /// <summary>Creates a new, empty database and returns its name.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var n = Interlocked.Increment(ref _databases);
        var name = ("t" + n.ToString(CultureInfo.InvariantCulture) + "_" + Guid.NewGuid().ToString("N"))[..24];
        await using var c = new NpgsqlConnection(ConnectionString("postgres"));
        await c.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", c);
        await cmd.ExecuteNonQueryAsync();
        return name;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await StopAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private Task AsServerUserAsync(string tool, IReadOnlyList<string> args)
    {
        var path = Path.Combine(_bin, tool);
        return _runAs is null ? RunAsync(path, args) : RunAsync("runuser", ["-u", _runAs, "--", path, .. args]);
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args, bool allowFailure = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await p.WaitForExitAsync(timeout.Token);
        if (p.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args.Where(a => !a.Contains("pwfile", StringComparison.Ordinal)))} exited with {p.ExitCode}: {await stderr} {await stdout}");
        }
    }
}
