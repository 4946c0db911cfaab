using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Loyalty.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

public sealed class MigrationTests
{
    [Fact]
    public async Task Two_app_instances_starting_at_once_on_an_empty_database_both_come_up_and_migrate_once()
    {
        using var shopify = new ShopifyFake();
        var db = await TestDatabase.CreateEmptyAsync();

        var instances = await Task.WhenAll(
            Task.Run(() => LoyaltyApp.StartAsync(shopify, connectionString: db)),
            Task.Run(() => LoyaltyApp.StartAsync(shopify, connectionString: db)));
        try
        {
            foreach (var app in instances)
            {
                Assert.Equal(System.Net.HttpStatusCode.OK, (await app.Http.GetAsync("/health/ready")).StatusCode);
            }
            await using var conn = new NpgsqlConnection(db);
            var versions = (await conn.QueryAsync<int>("SELECT version FROM schema_migrations ORDER BY version")).ToList();
            Assert.Equal(Migrator.Embedded().Select(m => m.Version), versions);
        }
        finally
        {
            foreach (var app in instances) await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Many_migrators_racing_on_an_empty_database_apply_each_migration_exactly_once()
    {
        var db = await TestDatabase.CreateEmptyAsync();
        var sources = Enumerable.Range(0, 6).Select(_ => NpgsqlDataSource.Create(db)).ToList();
        try
        {
            await Task.WhenAll(sources.Select(s => Task.Run(() => new Migrator(s, NullLogger<Migrator>.Instance).MigrateAsync(default))));

            await using var conn = await sources[0].OpenConnectionAsync();
            Assert.Equal(Migrator.Embedded().Count, await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM schema_migrations"));
            Assert.Equal(1, await conn.ExecuteScalarAsync<int>("SELECT count(*) FROM pg_tables WHERE tablename = 'webhook_deliveries'"));
        }
        finally
        {
            foreach (var s in sources) await s.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_migration_edited_after_it_was_applied_stops_start_up_with_a_clear_message()
    {
        var db = await TestDatabase.CreateAsync();
        await using var source = NpgsqlDataSource.Create(db);
        await using (var conn = await source.OpenConnectionAsync())
        {
            await conn.ExecuteAsync("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => new Migrator(source, NullLogger<Migrator>.Instance).MigrateAsync(default));

        Assert.Contains("was changed after it was applied", error.Message);
    }

    [Theory]
    [InlineData("postgres://loyal:s%40cret@db.example.com:6543/points?sslmode=require", "db.example.com", 6543, "points", "loyal", "s@cret")]
    [InlineData("postgresql://u:p@localhost/loyalty", "localhost", 5432, "loyalty", "u", "p")]
    public void DATABASE_URL_in_the_hosting_form_becomes_an_Npgsql_connection_string(string url, string host, int port, string database, string user, string password)
    {
        var builder = new NpgsqlConnectionStringBuilder(DatabaseUrl.ToConnectionString(url));

        Assert.Equal((host, port, database, user, password), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
    }

    [Fact]
    public void A_DATABASE_URL_that_is_not_postgres_is_refused_with_the_expected_form()
    {
        var error = Assert.Throws<FormatException>(() => DatabaseUrl.ToConnectionString("mysql://u:p@h/db"));
        Assert.Contains("postgres://user:password@host:5432/database", error.Message);
    }
}
