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

    [Fact]
    public async Task Shops_installed_before_earning_was_off_by_default_keep_the_rules_they_ran_on()
    {
        var db = await TestDatabase.CreateEmptyAsync();
        await using var source = NpgsqlDataSource.Create(db);
        await using (var conn = await source.OpenConnectionAsync())
        {
            // The database as migration 19 left it: a shop that never saved settings, and one whose merchant saved a rate of 2.
            await MigrateBeforeAsync(conn, 20);
            await conn.ExecuteAsync("""
                INSERT INTO shops (shop_domain, state, installed_at)
                VALUES ('never-saved.myshopify.com', 'installed', now()), ('saved.myshopify.com', 'installed', now());
                INSERT INTO shop_settings (shop_domain, earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step,
                                           daily_conversion_limit, coupon_validity_days, feedback_bonus, feedback_daily_limit,
                                           negative_balance_policy, balance_source)
                VALUES ('saved.myshopify.com', 2, 'total', true, 0.01, 500, 100, 5000, 7, 0, 0, 'floor_at_zero', 'ledger');
                """);
        }

        await new Migrator(source, NullLogger<Migrator>.Instance).MigrateAsync(default);

        await using var check = await source.OpenConnectionAsync();
        await check.ExecuteAsync("INSERT INTO shops (shop_domain, state, installed_at) VALUES ('new.myshopify.com', 'installed', now())");
        var settings = (await check.QueryAsync<string>("""
            SELECT shop_domain || ' ' || earn_rate::text || ' ' || earn_basis || ' ' || point_value::text || ' ' || min_conversion
            FROM shop_settings ORDER BY shop_domain
            """)).ToList();
        // The shop that never saved keeps the defaults it ran on, now saved; the saved one is untouched; a new shop has no row,
        // so it runs on today's defaults (earning off).
        Assert.Equal(["never-saved.myshopify.com 1.0000 subtotal 1.0000 100", "saved.myshopify.com 2.0000 total 0.0100 500"], settings);
        // Orders paid before either shop's first save keep the rate of then, however late they are processed.
        var fromTheStart = (await check.QueryAsync<string>("""
            SELECT shop_domain || ' ' || earn_rate::text || ' ' || earn_basis || ' ' || test_orders_earn FROM earn_rule_changes
            WHERE effective_at = '-infinity' ORDER BY shop_domain
            """)).ToList();
        Assert.Equal(["never-saved.myshopify.com 1.0000 subtotal false", "saved.myshopify.com 1.0000 subtotal false"], fromTheStart);
        Assert.Equal("2.0000 total", await check.ExecuteScalarAsync<string>("""
            SELECT earn_rate::text || ' ' || earn_basis FROM earn_rule_changes
            WHERE shop_domain = 'saved.myshopify.com' ORDER BY effective_at DESC LIMIT 1
            """));
    }

    [Fact]
    public async Task Migration_35_gives_up_after_its_lock_timeout_rather_than_queue_the_writes_of_shops_behind_a_long_transaction()
    {
        var db = await TestDatabase.CreateEmptyAsync();
        await using var source = NpgsqlDataSource.Create(db);
        await using (var conn = await source.OpenConnectionAsync())
        {
            await MigrateBeforeAsync(conn, 35);
        }
        // A long transaction that wrote shops: pos_circuits' foreign key must wait for it to lock shops, and every later write of
        // shops (an install, an uninstall) would queue behind that wait.
        await using var writer = await source.OpenConnectionAsync();
        await using var writing = await writer.BeginTransactionAsync();
        await writer.ExecuteAsync("UPDATE shops SET state = state", transaction: writing);

        var migrating = new Migrator(source, NullLogger<Migrator>.Instance).MigrateAsync(default);
        var error = await Assert.ThrowsAsync<PostgresException>(() => migrating.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(PostgresErrorCodes.LockNotAvailable, error.SqlState);

        await writing.RollbackAsync();
        await new Migrator(source, NullLogger<Migrator>.Instance).MigrateAsync(default); // start-up tries again
        await using var check = await source.OpenConnectionAsync();
        Assert.Equal(1, await check.ExecuteScalarAsync<int>("SELECT count(*) FROM schema_migrations WHERE version = 35"));
    }

    /// <summary>The database as the migrations before <paramref name="version"/> left it.</summary>
    private static async Task MigrateBeforeAsync(NpgsqlConnection conn, int version)
    {
        await conn.ExecuteAsync("""
            CREATE TABLE schema_migrations (version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                                            applied_at timestamptz NOT NULL DEFAULT now())
            """);
        foreach (var m in Migrator.Embedded().Where(m => m.Version < version))
        {
            await using var tx = await conn.BeginTransactionAsync();
            await conn.ExecuteAsync(m.Sql, transaction: tx);
            await conn.ExecuteAsync("INSERT INTO schema_migrations (version, name, checksum) VALUES (@Version, @Name, @Checksum)", m, tx);
            await tx.CommitAsync();
        }
    }
}
