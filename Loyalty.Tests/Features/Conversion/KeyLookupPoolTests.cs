using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Npgsql;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// A conversion's fenced state changes and reads, and Shopify's shared cost bucket, run on the key lookups' pool
/// (<see cref="DbExtensions.KeyLookups"/>): statements that find one row by its primary key, planned once per connection as an
/// index scan, which stays right however the table grows. The pool's connections are taken from the main pool's, not added to them.
/// </summary>
public sealed class KeyLookupPoolTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    [Fact]
    public async Task A_conversions_key_lookups_run_on_their_own_pool_planned_once_as_index_scans()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);

        var response = await ConvertAsync(500, "keyed");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await using var conn = await App.Db.OpenConnectionAsync();
        // The pool's connections are named for it in pg_stat_activity; their last statements are the saga's and the bucket's.
        var last = (await conn.QueryAsync<string>(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE '%' || @pool || '%'",
            new { pool = DbExtensions.KeyLookups })).ToList();
        Assert.Contains(last, q => q.Contains("UPDATE conversions SET", StringComparison.Ordinal));
        Assert.Equal("force_custom_plan", await conn.ExecuteScalarAsync<string>("SHOW plan_cache_mode")); // the main pool as ever

        await using var keyed = await App.Services.GetRequiredKeyedService<NpgsqlDataSource>(DbExtensions.KeyLookups).OpenConnectionAsync();
        Assert.Equal("force_generic_plan", await keyed.ExecuteScalarAsync<string>("SHOW plan_cache_mode"));
        // The generic plan of a lookup by key, made while the table holds a handful of rows, where a sequential scan would be cheapest
        // (and would stay the plan while the table grew): an index scan.
        await keyed.ExecuteAsync("PREPARE by_id(text) AS SELECT state FROM conversions WHERE id = $1");
        var plan = string.Join("\n", await keyed.QueryAsync<string>("EXPLAIN EXECUTE by_id('conv_none')"));
        await keyed.ExecuteAsync("DEALLOCATE by_id");
        Assert.Contains("Index Scan using conversions_pkey", plan);
        await keyed.ExecuteAsync("PREPARE bucket(text) AS SELECT available FROM shopify_cost_buckets WHERE shop_domain = $1 FOR UPDATE");
        plan = string.Join("\n", await keyed.QueryAsync<string>("EXPLAIN EXECUTE bucket('none')"));
        Assert.Contains("Index Scan using shopify_cost_buckets_pkey", plan);
        // Planned once: each run after the first takes the session's one plan.
        for (var i = 0; i < 3; i++) await keyed.ExecuteAsync("EXECUTE bucket('none')");
        var (generic, custom) = await keyed.QuerySingleAsync<(long, long)>(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'bucket'");
        await keyed.ExecuteAsync("DEALLOCATE bucket");
        Assert.True(generic >= 3 && custom == 0, $"{generic} generic and {custom} custom plans");
    }

    [Fact]
    public void The_key_lookups_pool_is_carved_out_of_the_main_pool_and_may_take_at_most_half()
    {
        var options = new DatabaseOptions { KeyLookupConnections = 8 };

        var main = new NpgsqlConnectionStringBuilder(DbExtensions.MainPool("Host=h;Maximum Pool Size=40", options));
        var keyed = new NpgsqlConnectionStringBuilder(DbExtensions.KeyLookupPool("Host=h;Maximum Pool Size=40", options));

        Assert.Equal((32, 8), (main.MaxPoolSize, keyed.MaxPoolSize));
        Assert.Equal("-c plan_cache_mode=force_custom_plan", main.Options);
        Assert.EndsWith("-c plan_cache_mode=force_generic_plan -c enable_seqscan=off", keyed.Options);
        var error = Assert.Throws<InvalidOperationException>(() => DbExtensions.MainPool("Host=h;Maximum Pool Size=10", options));
        Assert.Contains("Database:KeyLookupConnections (8) may take at most half", error.Message);
        Assert.Equal(8, new NpgsqlConnectionStringBuilder(DbExtensions.MainPool("Host=h;Maximum Pool Size=16", options)).MaxPoolSize);
        Assert.Equal(10, new NpgsqlConnectionStringBuilder(DbExtensions.MainPool("Host=h;Maximum Pool Size=10",
            new DatabaseOptions { KeyLookupConnections = 0 })).MaxPoolSize);
        // A pooler that refuses start-up options or keeps no prepared statements: no second pool, the main one whole.
        Assert.Equal(10, new NpgsqlConnectionStringBuilder(DbExtensions.MainPool("Host=h;Maximum Pool Size=10",
            new DatabaseOptions { KeyLookupConnections = 8, ForceCustomPlans = false })).MaxPoolSize);
        Assert.False(new DatabaseOptions { AutoPrepareStatements = 0 }.KeyLookupsOwnPool);
        Assert.Equal(2, new NpgsqlConnectionStringBuilder(DbExtensions.KeyLookupPool("Host=h;Maximum Pool Size=40;Minimum Pool Size=5",
            new DatabaseOptions { KeyLookupConnections = 2 })).MinPoolSize);
    }
}
