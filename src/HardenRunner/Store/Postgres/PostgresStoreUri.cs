using System.Globalization;
using Npgsql;

namespace HardenRunner.Store.Postgres;

/// <summary>
/// Where a PostgreSQL store is: <c>postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]</c> (also
/// <c>postgresql://</c>; user, password and database are percent-decoded). <c>?host=/DIR</c> connects to the server's
/// Unix socket in that directory instead (as libpq does; HOST is then only a label). The password may instead come from
/// <c>PGPASSWORD</c> or <c>~/.pgpass</c> (Npgsql reads both), so that it stays off the command line.
/// <see cref="ToString"/> and <see cref="Display"/> never contain the password: they are what logs and errors show.
/// </summary>
public sealed class PostgresStoreUri
{
    private static readonly string[] Schemes = ["postgres", "postgresql"];

    private readonly string? _password;

    private PostgresStoreUri(string host, int port, string database, string user, string? password, SslMode? sslMode, string? socketDirectory)
    {
        SocketDirectory = socketDirectory;
        Host = host;
        Port = port;
        Database = database;
        User = user;
        _password = password;
        SslMode = sslMode;
    }

    public string Host { get; }

    public int Port { get; }

    public string Database { get; }

    public string User { get; }

    public SslMode? SslMode { get; }

    /// <summary>The directory of the server's Unix socket (<c>?host=/DIR</c>), or null for TCP.</summary>
    public string? SocketDirectory { get; }

    public bool HasPassword => _password is not null;

    /// <summary>The location without the password: <c>postgres://user@host:port/db</c>.</summary>
    public string Display => string.Create(CultureInfo.InvariantCulture, $"postgres://{Uri.EscapeDataString(User)}@{HostForUri(Host)}:{Port}/{Uri.EscapeDataString(Database)}")
        + (SocketDirectory is null ? "" : "?host=" + SocketDirectory);

    /// <summary>True for text that is meant as a PostgreSQL URI (it may still be malformed: <see cref="Parse"/> says why).</summary>
    public static bool LooksLikePostgres(string text) =>
        !string.IsNullOrEmpty(text) && Schemes.Any(s => text.StartsWith(s + "://", StringComparison.OrdinalIgnoreCase));

    /// <summary>Parses a URI; throws <see cref="FormatException"/> with a reason that never contains the password.</summary>
    public static PostgresStoreUri Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!LooksLikePostgres(text))
        {
            throw new FormatException("a PostgreSQL store is given as postgres://USER@HOST[:PORT]/DATABASE");
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException("not a valid postgres:// URI (expected postgres://USER@HOST[:PORT]/DATABASE)");
        }

        var userInfo = uri.UserInfo;
        if (string.IsNullOrEmpty(userInfo))
        {
            throw new FormatException($"postgres://…@{uri.Host}: the URI names no user (postgres://USER@HOST/DATABASE)");
        }

        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        var password = colon < 0 ? null : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        if (user.Length == 0)
        {
            throw new FormatException($"postgres://…@{uri.Host}: the user name is empty");
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
        {
            throw new FormatException($"postgres://{user}@{uri.Host}: name one database after the host (postgres://USER@HOST[:PORT]/DATABASE)");
        }

        var port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port;
        SslMode? sslMode = null;
        string? socketDirectory = null;
        var query = uri.Query.TrimStart('?');
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var name = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (name == "sslmode" && Enum.TryParse<SslMode>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var mode))
            {
                sslMode = mode;
            }
            else if (name == "host" && value.StartsWith('/') && !value.Contains("..", StringComparison.Ordinal))
            {
                socketDirectory = value;
            }
            else
            {
                throw new FormatException($"postgres://{user}@{uri.Host}: unsupported parameter '{name}' (only sslmode=disable|prefer|require|verify-ca|verify-full and host=/SOCKET-DIRECTORY)");
            }
        }

        var host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host;
        return new PostgresStoreUri(host, port, database, user, password, sslMode, socketDirectory);
    }

    /// <summary>The Npgsql connection string (contains the password when the URI had one: never log it).</summary>
    internal string ToConnectionString(string applicationName)
    {
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = SocketDirectory ?? Host,
            Port = Port,
            Database = Database,
            Username = User,
            ApplicationName = applicationName,
            Timeout = 5,
            CommandTimeout = 60,
            IncludeErrorDetail = false,
            MaxPoolSize = 16,
        };
        if (_password is not null)
        {
            b.Password = _password;
        }

        if (SslMode is { } mode)
        {
            b.SslMode = mode;
        }

        return b.ConnectionString;
    }

    public override string ToString() => Display;

    private static string HostForUri(string host) => host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
}
