using Hangfire;
using Loyalty.ShopifyApp.Features.Install;

namespace Loyalty.Tests.Features.Install;

/// <summary>
/// Tokens granted together are not refreshed together (<c>TokenRefresh:EarlySeconds</c>): each shop's cutoff moves later by a fixed
/// share of the setting drawn from its name, so of many tokens expiring at one instant a run takes only those whose share reaches,
/// and their refreshes then expire apart. Judged by the refresh grants Shopify's fake received.
/// </summary>
public sealed class TokenRefreshEarlyTests(TokenRefreshEarlyTests.EarlyApp app) : AppTests<TokenRefreshEarlyTests.EarlyApp>(app)
{
    public sealed class EarlyApp : AppFixture
    {
        public EarlyApp()
            : this(new ShiftedClock())
        {
        }

        private EarlyApp(ShiftedClock clock)
            : base(new()
            {
                ["Jobs:ServerEnabled"] = "false", ["Jobs:Schedules:token-refresh"] = "*/10 * * * *", ["TokenRefresh:SpreadSeconds"] = "240",
                ["TokenRefresh:MarginSeconds"] = "60", ["Shopify:RefreshBeforeExpirySeconds"] = "300", ["TokenRefresh:EarlySeconds"] = "1500",
            }, s => s.AddSingleton<TimeProvider>(clock)) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    private TokenRefresh Job => App.Services.GetRequiredService<TokenRefresh>();

    private void AppTimeIs(DateTimeOffset at) => Fixture.Clock.Shift = at - TimeProvider.System.GetUtcNow();

    [Fact]
    public async Task Of_tokens_expiring_at_one_instant_past_the_cutoff_a_run_takes_those_whose_early_share_reaches_it()
    {
        // 10 s past a ten-minute mark: without the early share a token is due when it expires before mark + 1,200 s. These expire
        // 750 s after that: due for a shop whose share of 1,500 s is more than half. The shares, worked out apart from the app (the first
        // four bytes of the SHA-256 of the name, big-endian, over 2^32): early-00 0.63, 03 0.81, 04 0.78, 05 0.53, 09 0.77, 13 0.73,
        // 14 0.54, 15 0.62; the other eight under 0.5.
        var mark = TimeProvider.System.GetUtcNow().AddHours(2);
        mark = new DateTimeOffset(mark.Ticks - mark.Ticks % TimeSpan.FromMinutes(10).Ticks, TimeSpan.Zero);
        var expiry = mark.AddSeconds(600 + 240 + 300 + 60 + 750);
        var run = Guid.NewGuid().ToString("N")[..6];
        AppTimeIs(expiry.AddHours(-1));
        var shops = Enumerable.Range(0, 16).Select(i => $"early-{i:D2}.myshopify.com").ToList();
        foreach (var shop in shops)
        {
            await App.InstallAsync(Shopify, shop);
            await App.EditTokenAsync(shop, "UPDATE shop_tokens SET access_token_expires_at = @expiry WHERE shop_domain = @shop", new { expiry });
            Shopify.StubRefresh(shop, "shprt_exchanged", $"shpat_{run}", "shprt_new");
        }
        AppTimeIs(mark.AddSeconds(10));
        string[] reaching = [.. new[] { 0, 3, 4, 5, 9, 13, 14, 15 }.Select(i => $"early-{i:D2}.myshopify.com")];

        var before = Scheduled();
        await Job.RefreshAllAsync(default);
        var scheduled = Scheduled().Where(j => !before.Contains(j)).Select(j => j.Shop).Intersect(shops).ToList();
        foreach (var shop in shops) await Job.RefreshOneAsync(shop, default); // every shop's job runs, scheduled or left over

        Assert.Equal(reaching.Order(), scheduled.Order());
        Assert.All(shops, shop => Assert.Equal(reaching.Contains(shop) ? 1 : 0, Shopify.TokenCalls(shop, "grant_type=refresh_token").Count));
        Assert.Equal(0.52471, TokenRefresh.EarlyShare("demo-shop.myshopify.com"), 5); // the same on every instance and run
    }

    private List<(string Id, string Shop)> Scheduled() => [.. App.Services.GetRequiredService<JobStorage>().GetMonitoringApi()
        .ScheduledJobs(0, 10_000).Where(j => j.Value.Job.Type == typeof(TokenRefresh)).Select(j => (j.Key, (string)j.Value.Job.Args[0]))];
}
