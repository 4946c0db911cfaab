using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// The recurring run fans out (<see cref="ShopFanOut"/>): one sweep job per installed shop, spread evenly over
/// <see cref="OrderSweepOptions.SpreadSeconds"/>, one sweep of a shop at a time on any instance. A shop's watermark, last run
/// and last error are in <c>order_sweeps</c>.
/// </summary>
public sealed partial class MissedOrderSweep
{
    public const string Work = RecurringId;

    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public Task SweepAllAsync(CancellationToken ct) => fanOut.ScheduleAsync<MissedOrderSweep>(Work,
        TimeSpan.FromSeconds(options.Value.SpreadSeconds), shop => j => j.SweepOneAsync(shop, CancellationToken.None), ct);

    /// <summary>One shop's sweep, as its own job; a failure is recorded and the next run starts from the same point.</summary>
    // Failed: deleted (its error is in shop_job_runs), so a day's failures do not pile up in Hangfire's storage; the next run retries.
    [AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Delete)]
    public Task SweepOneAsync(string shop, CancellationToken ct) => fanOut.RunAloneAsync(Work, shop, async () =>
    {
        try
        {
            await SweepShopAsync(shop, ct);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
        {
            LogShopFailed(e, shop);
            await using var conn = await db.OpenConnectionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO order_sweeps (shop_domain, swept_until, last_run_at, last_error)
                SELECT shop_domain, installed_at, now(), @error FROM shops WHERE shop_domain = @shop
                ON CONFLICT (shop_domain) DO UPDATE SET last_run_at = now(), last_error = excluded.last_error
                """, new { shop, error = e.Message }, cancellationToken: ct));
        }
    }, ct);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Missed-order sweep of {Shop} failed; the next run starts from the same point")]
    private partial void LogShopFailed(Exception e, string shop);
}
