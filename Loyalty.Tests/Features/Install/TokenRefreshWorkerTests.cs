using Dapper;
using Hangfire;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.Extensions.Options;

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

    /// <summary>
    /// Every worker busy and four rounds of bulk work waiting (as in a flood of POS deliveries): the token's refresh is taken by a
    /// worker as soon as one frees up, not after the backlog. Before the fix every job shared one queue taken in order, so the refresh ran
    /// after the last round had started, and under a deep enough backlog the token could lapse (a CI run of the fleet smoke once saw
    /// 55 lapses; that run was not reproduced).
    /// </summary>
    [Fact]
    public async Task A_tokens_refresh_is_taken_before_bulk_work_waiting_ahead_of_it()
    {
        var clock = Fixture.Clock;
        var shiftBefore = clock.Shift;
        Shopify.StubRefresh(Shop, "shprt_exchanged", "shpat_fresh", "shprt_fresh");
        var expires = new DateTimeOffset(await App.ScalarAsync<DateTime>(
            "SELECT access_token_expires_at FROM shop_tokens WHERE shop_domain = @shop", new { shop = Shop }), TimeSpan.Zero);
        var jobs = App.Services.GetRequiredService<IBackgroundJobClient>();
        var workers = App.Services.GetRequiredService<IOptions<JobsOptions>>().Value.WorkerCount;
        // A round occupies every worker for 4 s; one runs, four wait behind it. The refresh pass runs when the first round ends (4 s),
        // its job is due up to 2 s later (the spread) and taken when the next round ends (8 s, or 12 s on a slow machine), well before
        // the last round starts (16 s); in one queue taken in order it could not run before the last round had started.
        var rounds = Enumerable.Range(0, 5).Select(_ => Enumerable.Range(0, workers).Select(_ => jobs.Enqueue(() => Thread.Sleep(4000)))
            .Select(long.Parse).ToArray()).ToList();
        try
        {
            await LoyaltyApp.WaitUntilAsync(async () => await ProcessingStartsAsync(rounds[0]) is { Count: var n } && n == workers,
                "the first round running on every worker");
            clock.Shift += expires - TimeSpan.FromMinutes(4) - clock.GetUtcNow(); // 4 minutes left: due in any run

            App.Services.GetRequiredService<IRecurringJobManager>().Trigger(TokenRefresh.RecurringId);

            await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(Shopify.TokenCalls(Shop, "grant_type=refresh_token").Count > 0),
                "the shop's token refreshed by its job", 30_000);
            var refreshedAt = Shopify.TokenCalls(Shop, "grant_type=refresh_token")[0].RequestMessage!.DateTime.ToUniversalTime();
            await LoyaltyApp.WaitUntilAsync(async () => (await ProcessingStartsAsync(rounds[4])).Count == workers,
                "the last round started", 30_000);
            var lastRoundStarted = (await ProcessingStartsAsync(rounds[4])).Min();
            Assert.True(refreshedAt < lastRoundStarted,
                $"refreshed at {refreshedAt:HH:mm:ss.fff}, before the backlog's last round started ({lastRoundStarted:HH:mm:ss.fff})");
        }
        finally
        {
            clock.Shift = shiftBefore;
            // The workers free again for the other tests of this class.
            await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
                "SELECT count(*) FROM hangfire.job WHERE id = ANY (@ids) AND statename = 'Succeeded'",
                new { ids = rounds.SelectMany(r => r).ToArray() }) == rounds.Sum(r => r.Length), "the backlog done", 60_000);
        }
    }

    /// <summary>When each of <paramref name="ids"/> that has started began processing, by Hangfire's own record.</summary>
    private async Task<List<DateTime>> ProcessingStartsAsync(long[] ids)
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        return [.. (await conn.QueryAsync<DateTime>(
            "SELECT min(createdat) FROM hangfire.state WHERE jobid = ANY (@ids) AND name = 'Processing' GROUP BY jobid", new { ids }))
            .Select(t => t.ToUniversalTime())];
    }
}
