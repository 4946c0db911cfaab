namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// The database <c>dotnet run</c> uses on a fresh machine: with no connection configured, and only in Development
/// (<see cref="Infrastructure.Db.DbExtensions.AddLoyaltyDb"/> refuses anywhere else), a private PostgreSQL is started
/// under <c>Database:LocalDataDirectory</c> (default <c>.local/postgres</c> in the content root) on <c>Database:LocalPort</c>
/// (default 54329) and its <c>loyalty</c> database created if missing.
/// </summary>
internal static class LocalDatabase
{
    /// <summary>Starts the local PostgreSQL (idempotent: a running one is reused) and returns the connection string to its <c>loyalty</c>
    /// database.</summary>
    public static string ConnectionString(IConfiguration configuration, IHostEnvironment environment)
    {
        var dataDirectory = configuration["Database:LocalDataDirectory"] ?? Path.Combine(environment.ContentRootPath, ".local", "postgres");
        var port = configuration.GetValue("Database:LocalPort", 54329);
        try
        {
            var local = new LocalPostgres(dataDirectory, port);
            Console.WriteLine($"[loyalty] No database configured: starting local PostgreSQL on 127.0.0.1:{port}, data in {local.DataDirectory}" +
                              (local.DataDirectory == local.RequestedDataDirectory ? ""
                                  : $" (the postgres user cannot reach {local.RequestedDataDirectory})"));
            local.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
            EnsureDatabase(local, "loyalty");
            return local.ConnectionString("loyalty");
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"[loyalty] Cannot start the local PostgreSQL: {e.Message}");
            throw;
        }
    }

    private static void EnsureDatabase(LocalPostgres local, string name)
    {
        using var conn = new NpgsqlConnection(local.ConnectionString("postgres"));
        conn.Open();
        using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @n", conn);
        exists.Parameters.AddWithValue("n", name);
        if (exists.ExecuteScalar() is null)
        {
            using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
            create.ExecuteNonQuery();
        }
    }
}
