using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Install;

/// <summary>
/// Keeps expiring offline tokens (an hour's life, the refresh token 90 days) fresh in shops nobody calls for (issue 19): a call
/// refreshes a token it finds about to expire, but a shop without traffic would let its token lapse. Each run fans out
/// (<see cref="ShopFanOut"/>) one job per installed shop whose token expires before the next run could refresh it in time, soonest
/// first, spread over <see cref="TokenRefreshOptions.SpreadSeconds"/>. The job refreshes through <see cref="AccessTokens"/>' locked
/// path, so a token is refreshed once whichever of the job, a call or another instance comes first. Tokens that never expire, and
/// those that cannot be refreshed (no refresh token, or an expired one), wait for the merchant to open the app.
/// </summary>
public sealed partial class TokenRefresh(
    NpgsqlDataSource db,
    AccessTokens tokens,
    ShopFanOut fanOut,
    IOptions<TokenRefreshOptions> options,
    IOptions<ShopifyOptions> shopify,
    IOptions<JobsOptions> jobs,
    TimeProvider clock,
    ILogger<TokenRefresh> logger)
{
    public const string RecurringId = "token-refresh";

    public const string Work = RecurringId;

    /// <summary>Every 5 minutes, unless <c>Jobs:Schedules:token-refresh</c> says otherwise.</summary>
    public const string DefaultCron = "*/5 * * * *";

    private TimeSpan Spread => TimeSpan.FromSeconds(options.Value.SpreadSeconds);

    /// <summary>The recurring run: schedules the refreshes due before the next run; returns how many it scheduled.</summary>
    // No DisableConcurrentExecution: a run that found another still scheduling would hold a worker waiting for its lock, and with
    // runs minutes (or seconds) apart a slow pass would tie up one worker per run; the fan-out's own lock makes it return at once.
    // Critical, as its jobs: a refresh that waits behind bulk work (a flood of POS deliveries) past its margin lets the token lapse. An
    // attribute rather than a queue stored with each job, so after a rollback the jobs already scheduled go to the old code's queue.
    [AutomaticRetry(Attempts = 0)] // the next run starts over
    [Queue(JobQueues.Critical)]
    public async Task<int> RefreshAllAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var before = RefreshBefore(now);
        List<string> due;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            // Read up to the latest any shop's early share reaches; each shop's own cutoff is applied below.
            due = [.. (await conn.QueryAsync<(string Shop, DateTime ExpiresAt)>(new CommandDefinition("""
                SELECT t.shop_domain, t.access_token_expires_at FROM shop_tokens t JOIN shops s USING (shop_domain)
                WHERE s.state = 'installed' AND t.access_token_expires_at < @latest
                  AND t.refresh_token_protected IS NOT NULL AND t.refresh_token_expires_at > @now
                ORDER BY t.access_token_expires_at, t.shop_domain
                """, new { latest = before.AddSeconds(options.Value.EarlySeconds), now }, cancellationToken: ct)))
                .Where(t => new DateTimeOffset(t.ExpiresAt, TimeSpan.Zero) < CutoffOf(t.Shop, before)).Select(t => t.Shop)];
        }
        return await fanOut.ScheduleAsync<TokenRefresh>(Work, Spread, shop => j => j.RefreshOneAsync(shop, CancellationToken.None), due, ct);
    }

    /// <summary>One shop's refresh, as its own job; a failure is logged and kept in shop_job_runs, and the next run tries again.</summary>
    // Failed: deleted (its error is in shop_job_runs), so failures do not pile up in Hangfire's storage; the next run retries.
    [AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Delete)]
    [Queue(JobQueues.Critical)]
    public Task RefreshOneAsync(string shop, CancellationToken ct) => fanOut.RunAloneAsync(Work, shop, async () =>
    {
        try
        {
            if (!await tokens.RefreshIfExpiringBeforeAsync(shop, CutoffOf(shop, RefreshBefore(clock.GetUtcNow())), ct)) LogNotDue(shop);
        }
        catch (ShopifyUnavailableException e)
        {
            LogShopFailed(e, shop);
            throw;
        }
    }, ct);

    /// <summary>
    /// A token expiring before this is refreshed in this pass: the next run's refresh of it could come as late as that run's start plus
    /// the spread, and should find it still outside the window in which calls refresh on use (<c>Shopify:RefreshBeforeExpirySeconds</c>),
    /// with <see cref="TokenRefreshOptions.MarginSeconds"/> for lateness. A pass's jobs, run before the next pass, find the same instant
    /// as the pass did (the same next run), so each refreshes the token it was scheduled for unless another caller already did. A
    /// schedule that is disabled (a run started by hand) or unparsable counts as the default.
    /// </summary>
    private DateTimeOffset RefreshBefore(DateTimeOffset now)
    {
        var cron = jobs.Value.Schedules.TryGetValue(RecurringId, out var configured) && !string.IsNullOrWhiteSpace(configured)
            ? configured : DefaultCron;
        var nextRun = FanOutSpreadCheck.NextRun(cron, now) ?? FanOutSpreadCheck.NextRun(DefaultCron, now) ?? now.AddMinutes(5);
        return nextRun + Spread + TimeSpan.FromSeconds(shopify.Value.RefreshBeforeExpirySeconds + options.Value.MarginSeconds);
    }

    /// <summary>
    /// <paramref name="before"/> moved later by the shop's early share: a fixed fraction of <see cref="TokenRefreshOptions.EarlySeconds"/>
    /// drawn from its name, so shops whose tokens were granted together (many installs at once, the end of an outage) are refreshed a
    /// little apart, and drift further apart with each hour's refresh instead of refreshing together every hour.
    /// </summary>
    private DateTimeOffset CutoffOf(string shop, DateTimeOffset before) =>
        before.AddSeconds(EarlyShare(shop) * options.Value.EarlySeconds);

    /// <summary>The shop's share in [0, 1), the same on every instance and every run.</summary>
    public static double EarlyShare(string shop) =>
        System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(shop))) / 4294967296.0;

    [LoggerMessage(Level = LogLevel.Debug, Message = "Token of {Shop} not refreshed ahead of expiry: it is fresh (another caller refreshed it) "
                                                     + "or gone")]
    private partial void LogNotDue(string shop);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Refreshing the token of {Shop} ahead of expiry failed; the next run, or the shop's next call, tries again")]
    private partial void LogShopFailed(Exception e, string shop);
}
