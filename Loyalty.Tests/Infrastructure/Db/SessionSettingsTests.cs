using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

/// <summary>
/// The app's sessions prepare their frequent statements and plan each for its values (<see cref="DatabaseOptions"/>), as
/// PostgreSQL itself reports it; a connection string that says otherwise wins, and a setting of 0 or false turns each off.
/// </summary>
public sealed class SessionSettingsTests
{
    [Fact]
    public async Task The_apps_sessions_keep_statements_prepared_and_plan_each_for_its_values()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);

        await using var conn = await app.Db.OpenConnectionAsync();
        Assert.Equal("force_custom_plan", await conn.ExecuteScalarAsync<string>("SHOW plan_cache_mode"));
        // Npgsql prepares a statement on its fifth use (Auto Prepare Min Usages).
        for (var i = 0; i < 6; i++) await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM shops WHERE shop_domain = @shop", new { shop = "x" });
        var prepared = await conn.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT count(*) FROM shops WHERE shop_domain = $1%'");
        Assert.Equal(1, prepared);
    }

    [Fact]
    public void A_connection_string_that_sets_its_own_wins_and_the_settings_turn_each_off()
    {
        var own = new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(
            "Host=h;Max Auto Prepare=5;Options=-c plan_cache_mode=auto", new DatabaseOptions()));
        Assert.Equal(5, own.MaxAutoPrepare);
        Assert.Equal("-c plan_cache_mode=auto", own.Options);

        var pooler = new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings("Host=h;Max Auto Prepare=0", new DatabaseOptions()));
        Assert.Equal(0, pooler.MaxAutoPrepare);

        var off = new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(
            "Host=h;Options=-c statement_timeout=5000", new DatabaseOptions { AutoPrepareStatements = 0, ForceCustomPlans = false }));
        Assert.Equal(0, off.MaxAutoPrepare);
        Assert.Equal("-c statement_timeout=5000", off.Options);

        var defaults = new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(
            "Host=h;Options=-c statement_timeout=5000", new DatabaseOptions()));
        Assert.Equal(64, defaults.MaxAutoPrepare);
        Assert.Equal("-c statement_timeout=5000 -c plan_cache_mode=force_custom_plan", defaults.Options);
    }

    [Fact]
    public void A_returned_session_is_not_reset_unless_the_setting_or_the_connection_string_asks()
    {
        Assert.True(new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings("Host=h", new DatabaseOptions())).NoResetOnClose);
        Assert.True(new NpgsqlConnectionStringBuilder(DbExtensions.MainPool("Host=h", new DatabaseOptions())).NoResetOnClose);
        Assert.True(new NpgsqlConnectionStringBuilder(DbExtensions.KeyLookupPool("Host=h", new DatabaseOptions())).NoResetOnClose);
        Assert.False(new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(
            "Host=h", new DatabaseOptions { ResetConnectionsOnClose = true })).NoResetOnClose);
        Assert.False(new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(
            "Host=h;No Reset On Close=false", new DatabaseOptions())).NoResetOnClose);
        Assert.True(new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(
            "Host=h;NoResetOnClose=true", new DatabaseOptions { ResetConnectionsOnClose = true })).NoResetOnClose);
    }
}
