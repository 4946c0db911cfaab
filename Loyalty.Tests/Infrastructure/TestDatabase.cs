using Loyalty.ShopifyApp.Infrastructure.Db;
using Loyalty.ShopifyApp.Sandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// One real PostgreSQL server for the whole test run, started from the machine's binaries in a temporary
/// folder (or the server named by LOYALTY_TEST_POSTGRES, an admin connection string). The schema is
/// migrated once into a template; every test gets its own database cloned from it, so tests never see
/// each other's writes and can run in parallel.
/// </summary>
public static class TestDatabase
{
    private const string Template = "loyalty_template";
    private static readonly SemaphoreSlim CreateLock = new(1, 1);
    private static readonly Lazy<Task<Func<string, string>>> Server = new(StartAsync);

    /// <summary>A fresh, migrated database; returns its connection string.</summary>
    public static async Task<string> CreateAsync()
    {
        var connectionFor = await Server.Value;
        var name = "t_" + Guid.NewGuid().ToString("N");
        await CreateLock.WaitAsync();
        try
        {
            await using var conn = new NpgsqlConnection(connectionFor("postgres"));
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\" TEMPLATE {Template}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        finally
        {
            CreateLock.Release();
        }
        return connectionFor(name);
    }

    /// <summary>An empty database with no schema at all (for migration tests).</summary>
    public static async Task<string> CreateEmptyAsync()
    {
        var connectionFor = await Server.Value;
        var name = "e_" + Guid.NewGuid().ToString("N");
        await using var conn = new NpgsqlConnection(connectionFor("postgres"));
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", conn);
        await cmd.ExecuteNonQueryAsync();
        return connectionFor(name);
    }

    /// <summary>
    /// The database goes away as far as an app can tell (a restart, a failover), or comes back: new connections refused
    /// and open ones cut, or allowed again. The server stays up for every other test's database.
    /// </summary>
    public static async Task SetConnectionsAllowedAsync(string connectionString, bool allowed)
    {
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres",
            Pooling = false }.ConnectionString);
        await admin.OpenAsync();
        await using (var alter = new NpgsqlCommand($"ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS {(allowed ? "true" : "false")}", admin))
        {
            await alter.ExecuteNonQueryAsync();
        }
        if (allowed) return;
        await using var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = @database", admin);
        kill.Parameters.AddWithValue("database", database);
        await kill.ExecuteScalarAsync();
    }

    private const string OwnerFile = "loyalty-tests.owner";

    /// <summary>
    /// Servers of earlier runs whose test process is gone (a test host killed before its exit handler ran leaves
    /// its server running and a few GB of clones behind): stopped and deleted, so runs do not fill the disk.
    /// </summary>
    private static async Task RemoveAbandonedServersAsync()
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), "loyalty-tests-*"))
        {
            var owner = Path.Combine(dir, OwnerFile);
            if (File.Exists(owner) && int.TryParse(await File.ReadAllTextAsync(owner), out var pid) && IsRunning(pid)) continue;
            if (!File.Exists(owner) && Directory.GetLastWriteTimeUtc(dir) > DateTime.UtcNow.AddHours(-1)) continue; // another run starting now
            try
            {
                await new LocalPostgres(dir, 0).StopImmediatelyAsync();
                Directory.Delete(dir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
            {
                // Left for the next run; never a reason to fail this one.
            }
        }

        static bool IsRunning(int pid)
        {
            try { return !System.Diagnostics.Process.GetProcessById(pid).HasExited; }
            catch (ArgumentException) { return false; }
        }
    }

    private static async Task<Func<string, string>> StartAsync()
    {
        Func<string, string> connectionFor;
        var external = Environment.GetEnvironmentVariable("LOYALTY_TEST_POSTGRES");
        if (!string.IsNullOrEmpty(external))
        {
            connectionFor = db => new NpgsqlConnectionStringBuilder(external) { Database = db }.ConnectionString;
        }
        else
        {
            await RemoveAbandonedServersAsync();
            var dir = Path.Combine(Path.GetTempPath(), "loyalty-tests-" + Guid.NewGuid().ToString("N")[..8]);
            var server = new LocalPostgres(dir, LocalPostgres.FreePort());
            await server.StartAsync(CancellationToken.None);
            await File.WriteAllTextAsync(Path.Combine(dir, OwnerFile),
                Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                NpgsqlConnection.ClearAllPools();
                server.StopAsync().GetAwaiter().GetResult();
                try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            };
            connectionFor = server.ConnectionString;
        }

        await using (var conn = new NpgsqlConnection(connectionFor("postgres")))
        {
            await conn.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Template}", conn);
            await drop.ExecuteNonQueryAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {Template}", conn);
            await create.ExecuteNonQueryAsync();
        }
        await using (var source = NpgsqlDataSource.Create(connectionFor(Template) + ";Pooling=false"))
        {
            await new Migrator(source, NullLogger<Migrator>.Instance).MigrateAsync(CancellationToken.None);
            // Tables of the test-only webhook handlers (TestWebhookHandlers.cs).
            await using var cmd = source.CreateCommand("""
                CREATE TABLE test_effects (webhook_id text PRIMARY KEY, runs int NOT NULL, tx bigint);
                CREATE TABLE test_failing (webhook_id text PRIMARY KEY);
                """);
            await cmd.ExecuteNonQueryAsync();
        }
        // Hangfire's own schema, installed once here instead of by every app instance on its clone.
        await using (var conn = new NpgsqlConnection(connectionFor(Template) + ";Pooling=false"))
        {
            await conn.OpenAsync();
            Hangfire.PostgreSql.PostgreSqlObjectsInstaller.Install(conn, "hangfire");
        }
        return connectionFor;
    }
}
