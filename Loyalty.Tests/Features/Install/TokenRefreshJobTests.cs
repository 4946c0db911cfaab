using Hangfire;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Features.Install;

/// <summary>
/// The <c>token-refresh</c> job (<see cref="TokenRefresh"/>): each run schedules one refresh per installed shop whose token the next
/// run could not refresh in time, spread over <c>TokenRefresh:SpreadSeconds</c>; each refresh goes through the shop's token lock, so
/// Shopify sees one refresh grant per token however many runs, jobs and calls meet. Time moves on the app's clock; no job server
/// runs here, so the scheduled refreshes stay in Hangfire's storage to be looked at, and a test runs one as its worker would.
/// </summary>
public sealed class TokenRefreshJobTests(TokenRefreshJobTests.ClockApp app) : AppTests<TokenRefreshJobTests.ClockApp>(app)
{
    public sealed class ClockApp : AppFixture
    {
        public ClockApp()
            : this(new ShiftedClock())
        {
        }

        // Every setting the horizon is made of, at its default but the schedule (every 10 minutes, not 5).
        private ClockApp(ShiftedClock clock)
            : base(new()
            {
                ["Jobs:ServerEnabled"] = "false", ["Jobs:Schedules:token-refresh"] = "*/10 * * * *", ["TokenRefresh:SpreadSeconds"] = "240",
                ["TokenRefresh:MarginSeconds"] = "60", ["Shopify:RefreshBeforeExpirySeconds"] = "300",
                ["TokenRefresh:EarlySeconds"] = "0", // each token exactly when due (TokenRefreshEarlyTests: the early share)
            }, s => s.AddSingleton<TimeProvider>(clock)) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    private ShiftedClock Clock => Fixture.Clock;

    private TokenRefresh Job => App.Services.GetRequiredService<TokenRefresh>();

    private AccessTokens Tokens => App.Services.GetRequiredService<AccessTokens>();

    public override Task InitializeAsync()
    {
        Clock.Shift = TimeSpan.Zero;
        return base.InitializeAsync();
    }

    /// <summary>The refreshes waiting in Hangfire's storage by job id: the shop of each, and when it is due.</summary>
    private Dictionary<string, (string Shop, DateTime EnqueueAt)> Scheduled() => App.Services.GetRequiredService<JobStorage>()
        .GetMonitoringApi().ScheduledJobs(0, 10_000).Where(j => j.Value.Job.Type == typeof(TokenRefresh))
        .ToDictionary(j => j.Key, j => ((string)j.Value.Job.Args[0], j.Value.EnqueueAt));

    /// <summary>What <paramref name="run"/> scheduled: the refreshes waiting after it that were not before.</summary>
    private async Task<List<(string Shop, DateTime EnqueueAt)>> ScheduledByAsync(Func<Task> run)
    {
        var before = Scheduled();
        await run();
        return [.. Scheduled().Where(j => !before.ContainsKey(j.Key)).Select(j => j.Value)];
    }

    private void AppTimeIs(DateTimeOffset at) => Clock.Shift = at - TimeProvider.System.GetUtcNow();

    /// <summary>A new shop, installed an hour before <paramref name="expiresAt"/> (app time) so that its hour's token expires then.</summary>
    private async Task<string> InstallExpiringAtAsync(DateTimeOffset expiresAt)
    {
        AppTimeIs(expiresAt.AddHours(-1));
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop);
        return shop;
    }

    /// <summary>A new shop installed with the token exchange <paramref name="stub"/> makes Shopify answer.</summary>
    private async Task<string> InstallGrantedAsync(Action<string> stub)
    {
        var shop = LoyaltyApp.NewShop();
        stub(shop);
        Shopify.StubShopDetails(shop);
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return shop;
    }

    private IReadOnlyList<WireMock.Logging.ILogEntry> RefreshGrants(string shop) => Shopify.TokenCalls(shop, "grant_type=refresh_token");

    [Fact]
    public async Task A_run_schedules_the_tokens_its_next_run_could_not_refresh_in_time_soonest_first_spread_over_the_setting()
    {
        // 10 s past a ten-minute mark: the schedule's next run is at the next mark, and its refreshes end 240 s later; a token must
        // then still have Shopify:RefreshBeforeExpirySeconds (300 s) and the margin (60 s) left. Due: expiring before mark + 1,200 s.
        var mark = TimeProvider.System.GetUtcNow().AddHours(2);
        mark = new DateTimeOffset(mark.Ticks - mark.Ticks % TimeSpan.FromMinutes(10).Ticks, TimeSpan.Zero);
        var horizon = mark.AddSeconds(600 + 240 + 300 + 60);
        var lapsed = await InstallExpiringAtAsync(mark.AddMinutes(-10)); // a quiet shop's token ran out; its refresh token is good
        var soon = await InstallExpiringAtAsync(mark.AddMinutes(5));
        var edge = await InstallExpiringAtAsync(horizon.AddMinutes(-1)); // past the 5-minute default's horizon: the schedule counts
        var nextRun = await InstallExpiringAtAsync(horizon.AddMinutes(1)); // the next run refreshes it in time
        var fresh = await InstallExpiringAtAsync(mark.AddMinutes(50));
        AppTimeIs(mark.AddSeconds(10));
        var started = DateTime.UtcNow;
        var count = 0;

        var scheduled = (await ScheduledByAsync(async () => count = await Job.RefreshAllAsync(default))).OrderBy(s => s.EnqueueAt).ToList();

        Assert.Equal(count, scheduled.Count);
        Assert.Equal(scheduled.Count, scheduled.Select(s => s.Shop).Distinct().Count());
        Assert.Equal([lapsed, soon, edge], scheduled.Select(s => s.Shop).Where(new[] { lapsed, soon, edge }.Contains));
        Assert.DoesNotContain(scheduled, s => s.Shop == nextRun || s.Shop == fresh);
        // Evenly apart over the spread: the n-th of N at n × 240 / N seconds.
        var offsets = scheduled.Select(s => (s.EnqueueAt - started).TotalSeconds).ToList();
        for (var n = 0; n < offsets.Count; n++) Assert.InRange(offsets[n], 240.0 * n / offsets.Count - 5, 240.0 * n / offsets.Count + 30);
        Assert.All(new[] { lapsed, soon, edge, nextRun, fresh }, shop => Assert.Empty(RefreshGrants(shop))); // none ran yet
    }

    [Fact]
    public async Task Tokens_that_never_expire_cannot_be_refreshed_or_belong_to_uninstalled_shops_are_neither_scheduled_nor_refreshed()
    {
        var forever = await InstallGrantedAsync(shop => Shopify.StubTokenExchangeWithoutRefresh(shop, "shpat_forever"));
        var noRefreshToken = await InstallGrantedAsync(shop => Shopify.StubTokenExchangeWithoutRefresh(shop, "shpat_once", expiresIn: 3600));
        var refreshExpired = await InstallGrantedAsync(shop => Shopify.StubTokenExchange(shop, refreshTokenExpiresIn: 1800));
        var uninstalled = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, uninstalled);
        await App.ScalarAsync<int>("UPDATE shops SET state = 'uninstalled' WHERE shop_domain = @shop RETURNING 1", new { shop = uninstalled });
        foreach (var shop in new[] { forever, noRefreshToken, refreshExpired, uninstalled, Shop }) Shopify.StubRefresh(shop, "shprt_exchanged",
            "shpat_new", "shprt_new");
        Clock.Shift = TimeSpan.FromMinutes(55); // every hour's token has 5 minutes left, the 30-minute refresh token none

        var scheduled = (await ScheduledByAsync(() => Job.RefreshAllAsync(default))).Select(s => s.Shop).ToList();

        Assert.Contains(Shop, scheduled);
        Assert.Empty(scheduled.Intersect([forever, noRefreshToken, refreshExpired, uninstalled]));
        // A refresh job left over for one of them (scheduled before it was uninstalled, say) refreshes nothing either.
        await Job.RefreshOneAsync(forever, default);
        await Job.RefreshOneAsync(uninstalled, default);
        Assert.All(new[] { forever, noRefreshToken, refreshExpired, uninstalled }, shop => Assert.Empty(RefreshGrants(shop)));
        Assert.Equal("shpat_forever", await Tokens.GetAsync(forever, default));
    }

    [Fact]
    public async Task Two_runs_at_once_schedule_a_shop_once_and_its_two_jobs_at_once_refresh_it_once()
    {
        Shopify.StubRefresh(Shop, "shprt_exchanged", "shpat_fresh", "shprt_fresh", delay: TimeSpan.FromMilliseconds(300));
        Clock.Shift = TimeSpan.FromMinutes(52); // 8 minutes left, no call for it: due

        Assert.Single(await ScheduledByAsync(() => Task.WhenAll(Job.RefreshAllAsync(default), Job.RefreshAllAsync(default))),
            s => s.Shop == Shop);

        // Two instances' workers take a job for the shop at once (one left over, say): one refreshes, the other finds it done.
        await Task.WhenAll(Job.RefreshOneAsync(Shop, default), Job.RefreshOneAsync(Shop, default));
        await Job.RefreshOneAsync(Shop, default);

        Assert.Contains("refresh_token=shprt_exchanged", Assert.Single(RefreshGrants(Shop)).RequestMessage!.Body);
        Assert.Equal("shpat_fresh", await Tokens.GetAsync(Shop, default)); // stored: the next call uses it without refreshing
        Assert.Single(RefreshGrants(Shop));
    }

    [Fact]
    public async Task A_job_and_a_call_meeting_an_expiring_token_refresh_it_once()
    {
        Shopify.StubRefresh(Shop, "shprt_exchanged", "shpat_fresh", "shprt_fresh", delay: TimeSpan.FromMilliseconds(300));
        Clock.Shift = TimeSpan.FromMinutes(57); // 3 minutes left: a call refreshes it too

        var token = Tokens.GetAsync(Shop, default);
        await Task.WhenAll(Job.RefreshOneAsync(Shop, default), token);

        Assert.Equal("shpat_fresh", await token);
        Assert.Single(RefreshGrants(Shop));
    }

    [Fact]
    public async Task A_refused_refresh_forgets_the_token_keeps_the_error_and_is_not_scheduled_again()
    {
        Shopify.StubRefreshRejected(Shop);
        Clock.Shift = TimeSpan.FromMinutes(52);
        Assert.Contains(await ScheduledByAsync(() => Job.RefreshAllAsync(default)), s => s.Shop == Shop);

        await Assert.ThrowsAsync<ShopNotAuthorizedException>(() => Job.RefreshOneAsync(Shop, default)); // its job, on a worker

        Assert.Single(RefreshGrants(Shop));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop = Shop }));
        Assert.StartsWith(nameof(ShopNotAuthorizedException), await App.ScalarAsync<string>(
            "SELECT last_error FROM shop_job_runs WHERE work = @work AND shop_domain = @shop", new { work = TokenRefresh.Work, shop = Shop }));
        Assert.Contains("refresh rejected (invalid_grant)", App.Log.Tail(contains: Shop));
        // Not scheduled again: the merchant's next visit exchanges a new token.
        Assert.DoesNotContain(await ScheduledByAsync(() => Job.RefreshAllAsync(default)), s => s.Shop == Shop);
    }
}
