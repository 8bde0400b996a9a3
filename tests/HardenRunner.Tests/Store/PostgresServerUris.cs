using HardenRunner.Store.Postgres;

namespace HardenRunner.Tests.Store;

/// <summary>The test server's locations as the store parses them.</summary>
public static class PostgresServerUris
{
    public static PostgresStoreUri Uri(this PostgresServer server, string database) => PostgresStoreUri.Parse(server.UriText(database));

    public static PostgresStoreUri SocketUri(this PostgresServer server, string database) => PostgresStoreUri.Parse(server.SocketUriText(database));
}
