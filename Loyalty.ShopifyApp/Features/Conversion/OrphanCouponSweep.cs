using System.Text.RegularExpressions;
using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Lists every discount this app created in each shop (their titles name the conversion) and deletes the ones no
/// completed conversion owns: its conversion failed or is gone, owns another discount, or its coupon was cancelled.
/// The saga never leaves one knowingly; this catches what Shopify applied after the app had to conclude it had not
/// (a create that committed past every timeout). Each run's counts are kept per shop
/// (<c>GET /api/admin/orphan-coupons</c>). Conversions still in flight or in review are left to the saga.
/// </summary>
public sealed partial class OrphanCouponSweep(NpgsqlDataSource db, ShopifyDiscounts shopify, ShopFanOut fanOut, IOptions<ConversionOptions> options,
    ILogger<OrphanCouponSweep> logger)
{
    public const string RecurringId = "orphan-coupon-sweep";

    /// <summary>The search that finds this app's reward discounts; the title is written by the saga.</summary>
    public const string TitleSearch = "title:'Loyalty reward'";

    public sealed record Result(int Checked, int Deleted, int Used);

    private sealed record Owner(string State, string? DiscountId, string CouponStatus);

    [GeneratedRegex(@"\((conv_[A-Za-z0-9]{20,40})\)\z")]
    private static partial Regex ConversionInTitle();

    public const string Work = RecurringId;

    /// <summary>The recurring run: one job per installed shop, spread over <see cref="ConversionOptions.OrphanSweepSpreadSeconds"/>.</summary>
    [AutomaticRetry(Attempts = 0)] // the next run starts over
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public Task SweepAllAsync(CancellationToken ct) => fanOut.ScheduleAsync<OrphanCouponSweep>(Work,
        TimeSpan.FromSeconds(options.Value.OrphanSweepSpreadSeconds), shop => j => j.SweepOneAsync(shop, CancellationToken.None), ct);

    /// <summary>One shop's sweep, as its own job, one at a time per shop; a failure is recorded with the shop's counts.</summary>
    // Failed: deleted (its error is in shop_job_runs), so a day's failures do not pile up in Hangfire's storage; the next run retries.
    [AutomaticRetry(Attempts = 0, OnAttemptsExceeded = AttemptsExceededAction.Delete)]
    public Task SweepOneAsync(string shop, CancellationToken ct) => fanOut.RunAloneAsync(Work, shop, async () =>
    {
        try
        {
            await SweepShopAsync(shop, ct);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException
                                      or ShopifyThrottledException)
        {
            LogShopFailed(e, shop);
            await RecordAsync(shop, new Result(0, 0, 0), e.Message, ct);
        }
    }, ct);

    public async Task<Result> SweepShopAsync(string shop, CancellationToken ct)
    {
        int checkedCount = 0, deleted = 0, used = 0;
        string? after = null;
        do
        {
            var page = await shopify.ListCodesAsync(shop, TitleSearch, 100, after, ct);
            foreach (var listed in page.Codes)
            {
                if (ConversionInTitle().Match(listed.Title) is not { Success: true } m) continue; // not one of ours
                checkedCount++;
                var conversionId = m.Groups[1].Value;
                Owner? owner;
                await using (var conn = await db.OpenConnectionAsync(ct))
                {
                    owner = await conn.QuerySingleOrDefaultAsync<Owner>(new CommandDefinition(
                        "SELECT state, discount_id, coupon_status FROM conversions WHERE id = @conversionId AND shop_domain = @shop",
                        new { conversionId, shop }, cancellationToken: ct));
                }
                var why = owner switch
                {
                    null => "its conversion does not exist",
                    { State: ConversionStates.Failed } => "its conversion failed",
                    { State: ConversionStates.Completed, CouponStatus: CouponStatuses.Cancelled } => "its coupon was cancelled",
                    { State: ConversionStates.Completed } when owner.DiscountId != listed.Id => "its conversion owns another discount",
                    _ => null, // owned, or still in flight or in review: the saga decides
                };
                if (why is null) continue;
                await shopify.DeleteAsync(shop, listed.Id, ct);
                deleted++;
                if (listed.UsageCount > 0)
                {
                    used++;
                    LogUsedOrphan(shop, listed.Id, listed.Code, conversionId, why);
                }
                else
                {
                    LogDeleted(shop, listed.Id, listed.Code, conversionId, why);
                }
            }
            after = page.HasNextPage ? page.EndCursor : null;
        }
        while (after is not null);

        var result = new Result(checkedCount, deleted, used);
        await RecordAsync(shop, result, null, ct);
        return result;
    }

    private async Task RecordAsync(string shop, Result r, string? error, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO orphan_coupon_sweeps (shop_domain, last_run_at, last_checked, last_deleted, deleted_total, used_total, last_error)
            VALUES (@shop, now(), @Checked, @Deleted, @Deleted, @Used, @error)
            ON CONFLICT (shop_domain) DO UPDATE SET last_run_at = now(), last_checked = excluded.last_checked,
                last_deleted = excluded.last_deleted, deleted_total = orphan_coupon_sweeps.deleted_total + excluded.last_deleted,
                used_total = orphan_coupon_sweeps.used_total + excluded.used_total, last_error = excluded.last_error
            """, new { shop, r.Checked, r.Deleted, r.Used, error }, cancellationToken: ct));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orphan coupon {DiscountId} ({Code}) of {Shop} deleted: {Why} (conversion {ConversionId})")]
    private partial void LogDeleted(string shop, string discountId, string? code, string conversionId, string why);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Orphan coupon {DiscountId} ({Code}) of {Shop} had been used in an order before it was found: {Why} (conversion {ConversionId}); " +
            "deleted")]
    private partial void LogUsedOrphan(string shop, string discountId, string? code, string conversionId, string why);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Orphan coupon sweep of {Shop} failed; the next run starts over")]
    private partial void LogShopFailed(Exception e, string shop);
}
