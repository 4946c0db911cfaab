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
        var changed = 0;
        (string Shop, long Customer) after = ("", 0);
        while (!ct.IsCancellationRequested)
        {
            List<(string Shop, long Customer)> batch;
            await using (var conn = await db.OpenConnectionAsync(ct))
            {
                batch = (await conn.QueryAsync<(string, long)>(new CommandDefinition("""
                    SELECT shop_domain, customer_id FROM (
                        SELECT b.shop_domain, b.customer_id FROM point_balances b
                        WHERE EXISTS (SELECT 1 FROM tiers t WHERE t.shop_domain = b.shop_domain AND t.archived_at IS NULL)
                        UNION
                        SELECT shop_domain, customer_id FROM customer_tiers WHERE tier_id IS NOT NULL) c
                    WHERE (shop_domain, customer_id) > (@shop, @customer)
                    ORDER BY shop_domain, customer_id LIMIT @limit
                    """, new { shop = after.Shop, customer = after.Customer, limit = BatchSize }, cancellationToken: ct))).ToList();
            }
            if (batch.Count == 0) break;
            foreach (var (shop, customer) in batch)
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
        LogReviewed(changed);
        return changed;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Tier review of customer {CustomerId} of {Shop} failed; the next run tries again")]
    private partial void LogFailed(Exception e, string shop, long customerId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tier review: {Changed} customer(s) changed tier")]
    private partial void LogReviewed(int changed);
}
