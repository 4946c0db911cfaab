using Hangfire;
using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// The daily <c>tier-review</c> job: every customer of a shop with tiers (and every member of a tier that is gone) is evaluated again, so
/// a rolling window that moved on, a grace period that ran out, a tier archived or a threshold changed takes effect without waiting
/// for the customer's next order. Customers in keyset order, each in a transaction of their own, so one customer's trouble is only
/// theirs and a run can be cut short and resumed the next day.
/// </summary>
public sealed partial class TierReview(NpgsqlDataSource db, ProgramClock clock, ILogger<TierReview> logger)
{
    public const string RecurringId = "tier-review";

    private const int BatchSize = 500;

    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task<int> ReviewAsync(CancellationToken ct)
    {
        List<string> shops;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            shops = (await conn.QueryAsync<string>(new CommandDefinition("""
                SELECT DISTINCT t.shop_domain FROM tiers t
                WHERE t.archived_at IS NULL OR EXISTS (SELECT 1 FROM customer_tiers c WHERE c.tier_id = t.id)
                ORDER BY 1
                """, cancellationToken: ct))).ToList();
        }
        var changed = 0;
        foreach (var shop in shops)
        {
            if (ct.IsCancellationRequested) break;
            changed += await ReviewShopAsync(shop, ct);
        }
        LogReviewed(changed, shops.Count);
        return changed;
    }

    /// <summary>The shop's customers (with points, or evaluated before), a page at a time by id, each branch read by its own index.</summary>
    private async Task<int> ReviewShopAsync(string shop, CancellationToken ct)
    {
        var changed = 0;
        for (long after = 0; !ct.IsCancellationRequested;)
        {
            List<long> batch;
            await using (var conn = await db.OpenConnectionAsync(ct))
            {
                batch = (await conn.QueryAsync<long>(new CommandDefinition("""
                    (SELECT customer_id FROM point_balances WHERE shop_domain = @shop AND customer_id > @after ORDER BY customer_id LIMIT @limit)
                    UNION
                    (SELECT customer_id FROM customer_tiers WHERE shop_domain = @shop AND customer_id > @after ORDER BY customer_id LIMIT @limit)
                    ORDER BY 1 LIMIT @limit
                    """, new { shop, after, limit = BatchSize }, cancellationToken: ct))).ToList();
            }
            if (batch.Count == 0) break;
            foreach (var customer in batch)
            {
                try
                {
                    await using var conn = await db.OpenConnectionAsync(ct);
                    await using var tx = await conn.BeginTransactionAsync(ct);
                    if (await TierEvaluation.EvaluateAsync(conn, tx, shop, customer, clock.Now, ct) is not null) changed++;
                    await tx.CommitAsync(ct);
                }
                catch (Exception e) when (e is NpgsqlException or PostgresException or TimeoutException)
                {
                    LogFailed(e, shop, customer);
                }
            }
            after = batch[^1];
        }
        return changed;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Tier review of customer {CustomerId} of {Shop} failed; the next run tries again")]
    private partial void LogFailed(Exception e, string shop, long customerId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tier review: {Changed} customer(s) of {Shops} shop(s) changed tier")]
    private partial void LogReviewed(int changed, int shops);
}
