using Hangfire;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Features.Install;

/// <summary>
/// The <c>token-refresh</c> recurring job on the job workers keeps a quiet shop's token alive: what Shopify's token endpoint
/// received says so. The sweeps, which would call the Admin API (and refresh on use), are off, so nothing but the job can refresh.
/// </summary>
public sealed class TokenRefreshWorkerTests(TokenRefreshWorkerTests.WorkerApp app) : AppTests<TokenRefreshWorkerTests.WorkerApp>(app)
{
    public sealed class WorkerApp : AppFixture
    {
        public WorkerApp()
            : this(new ShiftedClock())
        {
        }

        private WorkerApp(ShiftedClock clock)
            : base(new()
            {
                ["TokenRefresh:SpreadSeconds"] = "2", ["Jobs:SchedulePollIntervalMs"] = "100", ["Jobs:QueuePollIntervalMs"] = "100",
                ["Jobs:Schedules:missed-orders-sweep"] = "", ["Jobs:Schedules:orphan-coupon-sweep"] = "",
                ["Jobs:Schedules:token-refresh"] = TokenRefresh.DefaultCron, // the tests' settings turn it off

            }, s => s.AddSingleton<TimeProvider>(clock)) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    [Fact]
    public async Task A_quiet_shops_token_is_refreshed_by_its_job_before_it_expires_without_any_admin_api_call()
    {
        var clock = Fixture.Clock;
        Shopify.StubRefresh(Shop, "shprt_exchanged", "shpat_fresh", "shprt_fresh");
        var expires = new DateTimeOffset(await App.ScalarAsync<DateTime>(
            "SELECT access_token_expires_at FROM shop_tokens WHERE shop_domain = @shop", new { shop = Shop }), TimeSpan.Zero);
        var adminCalls = Shopify.Calls(Shop, $"/admin/api/{ShopifyFake.ApiVersion}/graphql.json").Count; // the install's
        // Nobody has called for the shop since; its hour's token has 4 minutes left, less than any run's horizon (next run + 2 s
        // + 300 s + 60 s): a run now schedules it.
        clock.Shift = TimeSpan.FromMinutes(56);

        App.Services.GetRequiredService<IRecurringJobManager>().Trigger(TokenRefresh.RecurringId); // its run, as the schedule starts it

        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(Shopify.TokenCalls(Shop, "grant_type=refresh_token").Count > 0),
            "the shop's token refreshed by its job");
        Assert.True(clock.GetUtcNow() < expires, "refreshed before the token expired");
        Assert.Contains("refresh_token=shprt_exchanged", Assert.Single(Shopify.TokenCalls(Shop, "grant_type=refresh_token")).RequestMessage!.Body);
        Assert.Equal(adminCalls, Shopify.Calls(Shop, $"/admin/api/{ShopifyFake.ApiVersion}/graphql.json").Count);
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<bool>(
            "SELECT finished_at IS NOT NULL AND last_error IS NULL FROM shop_job_runs WHERE work = @work AND shop_domain = @shop",
            new { work = TokenRefresh.Work, shop = Shop }), "its job's run recorded");
        Assert.Equal("shpat_fresh", await App.Services.GetRequiredService<AccessTokens>().GetAsync(Shop, default)); // kept, not refreshed again
        Assert.Single(Shopify.TokenCalls(Shop, "grant_type=refresh_token"));
    }
}
