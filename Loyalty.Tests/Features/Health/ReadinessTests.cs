using Microsoft.Extensions.Hosting;

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
        await TestDatabase.SetConnectionsAllowedAsync(app.ConnectionString, allowed: false);
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
            await TestDatabase.SetConnectionsAllowedAsync(app.ConnectionString, allowed: true);
        }
        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task A_job_server_that_stopped_beating_is_not_ready_and_names_jobs_while_the_database_is_fine()
    {
        var clock = new ShiftedClock();
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, services: s => s.AddSingleton<TimeProvider>(clock));
        // Past the start-up grace (a minute), still inside the heartbeat window (two): readiness rests on the heartbeat alone.
        clock.Shift = TimeSpan.FromSeconds(75);
        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health/ready")).StatusCode);

        // This instance's Hangfire server dies while the instance keeps answering requests.
        await app.Services.GetServices<IHostedService>().Single(h => h.GetType().Name == "JobServerHost").StopAsync(default);
        await LoyaltyApp.WaitUntilAsync(async () => await app.ScalarAsync<long>("SELECT count(*) FROM hangfire.server") == 0,
            "the stopped Hangfire server took itself off hangfire.server");
        var ready = await app.Http.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var body = await ready.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(["jobs"], body.GetProperty("failed").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal("Unhealthy", body.GetProperty("checks").GetProperty("jobs").GetProperty("status").GetString());
        Assert.Contains("no heartbeat", body.GetProperty("checks").GetProperty("jobs").GetProperty("description").GetString());
        Assert.Equal("Healthy", body.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health")).StatusCode);
    }
}
