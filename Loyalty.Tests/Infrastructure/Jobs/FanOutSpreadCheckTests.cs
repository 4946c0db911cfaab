using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.Tests.Infrastructure.Jobs;

/// <summary>A fanned-out job whose spread is not shorter than its schedule refuses to start, naming both settings.</summary>
public sealed class FanOutSpreadCheckTests
{
    [Fact]
    public async Task A_sweep_spread_over_its_whole_schedule_refuses_to_start()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["OrderSweep:SpreadSeconds"] = "900" })); // every 15 minutes

        Assert.Contains("OrderSweep:SpreadSeconds spreads each pass of missed-orders-sweep over 900 s, but its schedule '*/15 * * * *'",
            error.ToString());
    }

    [Fact]
    public async Task A_token_refresh_spread_over_its_whole_five_minutes_refuses_to_start()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
            {
                ["TokenRefresh:SpreadSeconds"] = "300", ["Jobs:Schedules:token-refresh"] = "*/5 * * * *", // the tests' settings turn it off
            }));

        Assert.Contains("TokenRefresh:SpreadSeconds spreads each pass of token-refresh over 300 s, but its schedule '*/5 * * * *'",
            error.ToString());
    }

    [Fact]
    public async Task Token_refresh_settings_that_would_refresh_every_token_every_run_refuse_to_start()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
            {
                ["Jobs:Schedules:token-refresh"] = "*/5 * * * *", ["TokenRefresh:EarlySeconds"] = "2500", // 600 + 240 + 300 + 60 + 2500
            }));

        Assert.Contains("TokenRefresh: a token refreshed now would be due again at the next run", error.ToString());
        Assert.Contains("is 3700 s, not under the 3600 s an access token lives", error.ToString());
    }

    [Fact]
    public async Task A_longer_schedule_or_a_disabled_one_lets_the_same_spread_start()
    {
        using var shopify = new ShopifyFake();

        await using var longer = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["OrderSweep:SpreadSeconds"] = "900", ["Jobs:Schedules:missed-orders-sweep"] = "*/30 * * * *",
            ["Conversion:OrphanSweepSpreadSeconds"] = "3600", ["Jobs:Schedules:orphan-coupon-sweep"] = "",
        });

        Assert.Equal(HttpStatusCode.OK, (await longer.Http.GetAsync("/health")).StatusCode);
    }

    [Theory]
    [InlineData("*/15 * * * *", 900)]
    [InlineData("17 * * * *", 3600)]
    [InlineData("*/2 * * * * *", 2)]
    [InlineData("0 3,4 * * *", 3600)] // the shortest gap of an uneven schedule
    public void The_shortest_interval_of_a_schedule_is_measured_over_a_week(string cron, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), FanOutSpreadCheck.ShortestInterval(cron));
}
