using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Db;
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

        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => new Migrator(source, NullLogger<Migrator>.Instance).MigrateAsync(default));

        Assert.Contains("was changed after it was applied", error.Message);
    }
}
