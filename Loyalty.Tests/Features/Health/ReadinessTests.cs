using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Loyalty.Tests.Infrastructure;
using Npgsql;

namespace Loyalty.Tests.Features.Health;

/// <summary><c>/health/ready</c> as a load balancer sees it: 503 and the name of what is wrong, while <c>/health</c> stays 200.</summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task Ready_names_every_check_when_the_database_migrations_and_job_server_are_fine()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);

        var ready = await app.Http.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var body = await ready.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("ready", body.GetProperty("status").GetString());
        Assert.Equal(0, body.GetProperty("failed").GetArrayLength());
        foreach (var check in new[] { "database", "migrations", "jobs" })
        {
            Assert.Equal("Healthy", body.GetProperty("checks").GetProperty(check).GetProperty("status").GetString());
        }
    }

    [Fact]
    public async Task A_database_missing_a_migration_is_not_ready_and_says_which()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        var latest = await app.ScalarAsync<int>("SELECT max(version) FROM schema_migrations");
        await app.ScalarAsync<int>("DELETE FROM schema_migrations WHERE version = @latest", new { latest });

        var ready = await app.Http.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var body = await ready.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["migrations"], body.GetProperty("failed").EnumerateArray().Select(f => f.GetString()));
        Assert.Contains(latest.ToString(), body.GetProperty("checks").GetProperty("migrations").GetProperty("description").GetString());
        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health")).StatusCode);
    }

    [Fact]
    public async Task A_database_that_refuses_connections_is_not_ready_and_liveness_stays_up()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        var database = new NpgsqlConnectionStringBuilder(app.ConnectionString).Database!;
        await SetConnectionsAllowedAsync(app, database, allowed: false);
        try
        {
            var ready = await app.Http.GetAsync("/health/ready");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = await ready.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains("database", body.GetProperty("failed").EnumerateArray().Select(f => f.GetString()));
            Assert.StartsWith("not ready", body.GetProperty("status").GetString());
            Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health")).StatusCode);
        }
        finally
        {
            await SetConnectionsAllowedAsync(app, database, allowed: true);
        }
        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health/ready")).StatusCode);
    }

    /// <summary>The database goes away as far as the app can tell: new connections refused and open ones cut.</summary>
    private static async Task SetConnectionsAllowedAsync(LoyaltyApp app, string database, bool allowed)
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(app.ConnectionString) { Database = "postgres", Pooling = false }.ConnectionString);
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
}
