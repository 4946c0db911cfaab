using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Loyalty.ShopifyApp.Sandbox;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

/// <summary>
/// An instance that starts while its database is down or restarting (an orchestrator starting both at once, a restart during
/// a database restart) waits for it instead of exiting, for <c>Database:StartupWaitSeconds</c>, then gives up clearly.
/// </summary>
public sealed class DatabaseStartupTests
{
    private static MigrateOnStartup StartUp(NpgsqlDataSource source, int waitSeconds) => new(
        new Migrator(source, NullLogger<Migrator>.Instance), Options.Create(new DatabaseOptions { StartupWaitSeconds = waitSeconds }),
        TimeProvider.System, NullLogger<MigrateOnStartup>.Instance);

    [Fact]
    public async Task An_instance_started_before_its_database_waits_for_it_and_migrates_once_it_is_up()
    {
        var home = Directory.CreateTempSubdirectory("loyalty-late-db-");
        var server = new LocalPostgres(Path.Combine(home.FullName, "postgres"), LocalPostgres.FreePort());
        await using var source = NpgsqlDataSource.Create(server.ConnectionString("postgres"));
        try
        {
            var startUp = StartUp(source, 120).StartAsync(CancellationToken.None);
            await Task.Delay(1500);
            Assert.False(startUp.IsCompleted, startUp.Exception?.ToString() ?? "start-up ended while nothing listened on the database's port");

            await server.StartAsync(CancellationToken.None);
            await startUp.WaitAsync(TimeSpan.FromSeconds(60));

            await using var conn = await source.OpenConnectionAsync();
            Assert.Equal(Migrator.Embedded().Count, await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
        }
        finally
        {
            await server.StopAsync();
            if (server.DataDirectory != server.RequestedDataDirectory) Directory.Delete(Path.GetDirectoryName(server.DataDirectory)!,
                recursive: true);
            home.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task An_instance_whose_database_never_comes_gives_up_after_the_wait_and_says_which_setting_decides_it()
    {
        var unused = new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = LocalPostgres.FreePort(), Username = "loyalty",
            Database = "loyalty" };
        await using var source = NpgsqlDataSource.Create(unused.ConnectionString);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StartUp(source, 1).StartAsync(CancellationToken.None));

        Assert.Contains("Database:StartupWaitSeconds (1 s)", error.Message);
        Assert.True(MigrateOnStartup.IsUnavailable(error.InnerException!), error.InnerException?.ToString());
    }

    [Fact]
    public void A_database_that_answers_with_an_error_of_its_own_is_not_waited_for()
    {
        Assert.True(MigrateOnStartup.IsUnavailable(new PostgresException("the database system is shutting down", "FATAL", "FATAL", "57P03")));
        Assert.True(MigrateOnStartup.IsUnavailable(new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL",
            "57P01")));
        Assert.False(MigrateOnStartup.IsUnavailable(new PostgresException("password authentication failed", "FATAL", "FATAL", "28P01")));
        Assert.False(MigrateOnStartup.IsUnavailable(new PostgresException("syntax error", "ERROR", "ERROR", "42601")));
    }
}
