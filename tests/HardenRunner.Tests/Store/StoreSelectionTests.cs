using HardenRunner.Store;
using Npgsql;

namespace HardenRunner.Tests.Store;

/// <summary>Choosing the store: option, environment, URI parsing, and passwords kept out of everything shown.</summary>
public sealed class StoreSelectionTests
{
    [Fact]
    public void Resolve_OptionWins_ThenEnvironment_ThenLocal()
    {
        Func<string, string?> env = n => n == StoreSelection.EnvironmentVariable ? "postgres://e@db/x" : null;
        Assert.Equal("postgres://o@db/x", StoreSelection.Resolve("postgres://o@db/x", env));
        Assert.Equal("postgres://e@db/x", StoreSelection.Resolve(null, env));
        Assert.Equal("postgres://e@db/x", StoreSelection.Resolve("  ", env));
        Assert.Null(StoreSelection.Resolve(null, _ => null));
        Assert.Null(StoreSelection.Resolve(null, _ => ""));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("sqlite")]
    [InlineData("SQLite")]
    public void Parse_Local_IsNull(string? spec) => Assert.Null(StoreSelection.Parse(spec));

    [Fact]
    public void Parse_FullUri_KeepsEveryPart_AndShowsNoPassword()
    {
        var uri = StoreSelection.Parse("postgres://hr%40acme:p%40ss%3Aw0rd@db.internal:6543/fleet_runs?sslmode=require")!;
        Assert.Equal("hr@acme", uri.User);
        Assert.Equal("db.internal", uri.Host);
        Assert.Equal(6543, uri.Port);
        Assert.Equal("fleet_runs", uri.Database);
        Assert.Equal(SslMode.Require, uri.SslMode);
        Assert.True(uri.HasPassword);
        Assert.Equal("postgres://hr%40acme@db.internal:6543/fleet_runs", uri.Display);
        Assert.Equal(uri.Display, uri.ToString());
        Assert.DoesNotContain("w0rd", uri.Display, StringComparison.Ordinal);
        var cs = new NpgsqlConnectionStringBuilder(uri.ToConnectionString("t"));
        Assert.Equal("p@ss:w0rd", cs.Password);
        Assert.Equal("hr@acme", cs.Username);
    }

    [Fact]
    public void Parse_Defaults_Port5432_NoPassword_PostgresqlSchemeToo()
    {
        var uri = StoreSelection.Parse("postgresql://runner@10.1.2.3/hr")!;
        Assert.Equal(5432, uri.Port);
        Assert.False(uri.HasPassword);
        Assert.Null(uri.SslMode);
        Assert.Equal("postgres://runner@10.1.2.3:5432/hr", uri.Display);
        var v6 = StoreSelection.Parse("postgres://runner@[::1]:5433/hr")!;
        Assert.Equal("::1", v6.Host);
        Assert.Equal("postgres://runner@[::1]:5433/hr", v6.Display);
    }

    [Fact]
    public void Parse_UnixSocketDirectory_ConnectsThere_AndIsShown()
    {
        var uri = StoreSelection.Parse("postgres://runner@localhost/hr?host=/run/postgresql")!;
        Assert.Equal("/run/postgresql", uri.SocketDirectory);
        Assert.Equal("postgres://runner@localhost:5432/hr?host=/run/postgresql", uri.Display);
        Assert.Equal("/run/postgresql", new NpgsqlConnectionStringBuilder(uri.ToConnectionString("t")).Host);
        Assert.Throws<FormatException>(() => StoreSelection.Parse("postgres://runner@localhost/hr?host=relative/dir"));
    }

    [Theory]
    [InlineData("mysql://u:hunter2@db/x", "unsupported store mysql://")]
    [InlineData("/var/lib/x.db", "unsupported store")]
    [InlineData("postgres://db.internal/x", "names no user")]
    [InlineData("postgres://u:hunter2@db.internal", "name one database")]
    [InlineData("postgres://u:hunter2@db.internal/a/b", "name one database")]
    [InlineData("postgres://u:hunter2@db.internal/x?password=hunter2", "unsupported parameter 'password'")]
    [InlineData("postgres://u:hunter2@db.internal/x?sslmode=sometimes", "unsupported parameter 'sslmode'")]
    public void Parse_Bad_IsRefusedWithAReason_ThatNeverRepeatsThePassword(string spec, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => StoreSelection.Parse(spec));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }
}
