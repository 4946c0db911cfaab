using Loyalty.ShopifyApp.Features.PosSync;

namespace Loyalty.ShopifyApp.Features.Pending;

/// <summary>
/// The end of an order's pending period: what the order still holds (awarded less taken back) moves from the customer's pending
/// points to the balance, as one ledger row <c>release:{order}</c>, and in POS mode goes to the POS like any award. Released by
/// this recurring job, by a customer's or merchant's read (<see cref="ReleaseDueForCustomerAsync"/>, so no one waits on the job),
/// and by a refund or cancellation that comes after the period (so it takes back spendable points). The order's advisory lock and
/// the unique reference make every path release an order once.
/// </summary>
public sealed partial class PendingRelease(NpgsqlDataSource db, PosSyncTrigger posSync, TimeProvider clock, IOptions<PendingOptions> options,
    ILogger<PendingRelease> logger)
{
    public const string RecurringId = "pending-release";

    private const string Due = "status = 'awarded' AND pending_until IS NOT NULL AND released_at IS NULL AND pending_until <= @now";

    /// <summary>When an order priced (paid) at <paramref name="pricedAt"/> becomes spendable; null: at once (no pending period).</summary>
    public static DateTimeOffset? PendingUntil(ShopSettings settings, DateTimeOffset pricedAt) =>
        settings.PendingDays > 0 ? pricedAt.ToUniversalTime().AddDays(settings.PendingDays) : null;

    /// <summary>Releases the order if its period is over and it is not released yet; the caller holds the order's lock.</summary>
    /// <returns>The points released (0 when nothing was due, or the order holds nothing any more).</returns>
    public static async Task<long> ReleaseLockedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, ShopSettings settings,
        DateTimeOffset now, CancellationToken ct)
    {
        var order = await conn.QuerySingleOrDefaultAsync<(long? CustomerId, long Points, string? Name)?>(new CommandDefinition($"""
            SELECT customer_id, awarded_points - taken_back_points, order_name FROM order_earnings
            WHERE shop_domain = @shop AND order_id = @orderId AND {Due}
            """, new { shop, orderId, now }, tx, cancellationToken: ct));
        if (order is not { } o) return 0;

        if (o.CustomerId is { } customerId && o.Points > 0)
        {
            await Ledger.PostAsync(conn, tx, new PointsEntry(shop, customerId, o.Points, "pending_release", $"release:{orderId}",
                $"Order {o.Name ?? "#" + orderId}: pending period over", "system", OrderId: orderId, PendingPoints: -o.Points),
                new Posting(QueueForPos: settings.PosMode), ct);
        }
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE order_earnings SET released_at = @now, updated_at = now() WHERE shop_domain = @shop AND order_id = @orderId",
            new { shop, orderId, now }, tx, cancellationToken: ct));
        return o.CustomerId is null ? 0 : o.Points;
    }

    /// <summary>
    /// Releases whatever of this customer's is due, in one short transaction: run before their balance is shown or spent. Best effort: if
    /// it would have to wait out other work on the same orders (a deadlock or a busy lock), it gives way, and the job releases them.
    /// </summary>
    public async Task<long> ReleaseDueForCustomerAsync(NpgsqlConnection conn, string shop, long customerId, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var due = (await conn.QueryAsync<long>(new CommandDefinition($"""
            SELECT order_id FROM order_earnings WHERE shop_domain = @shop AND customer_id = @customerId AND {Due} ORDER BY order_id
            """, new { shop, customerId, now }, cancellationToken: ct))).ToList();
        if (due.Count == 0) return 0;

        long released = 0;
        ShopSettings settings;
        try
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            settings = await ShopSettings.LoadAsync(conn, tx, shop, ct);
            foreach (var orderId in due) // ascending, as every other path that locks several orders of one customer
            {
                await OrderEarnings.LockOrderAsync(conn, tx, shop, orderId, ct);
                released += await ReleaseLockedAsync(conn, tx, shop, orderId, settings, now, ct);
            }
            await tx.CommitAsync(ct);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.LockNotAvailable)
        {
            LogGaveWay(shop, customerId, ex.SqlState);
            return 0;
        }
        if (settings.PosMode && released > 0) posSync.Notify();
        return released;
    }

    /// <summary>The recurring run: releases every due order, oldest period first, each in a transaction of its own.</summary>
    public async Task<int> ReleaseDueAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var (count, points, notify, skipped) = (0, 0L, false, 0);
        var settingsOf = new Dictionary<string, ShopSettings>();
        await using var conn = await db.OpenConnectionAsync(ct);
        while (count < options.Value.MaxPerRun)
        {
            var batch = (await conn.QueryAsync<(string Shop, long OrderId)>(new CommandDefinition($"""
                SELECT shop_domain, order_id FROM order_earnings WHERE {Due} ORDER BY pending_until LIMIT @limit
                """, new { now, limit = Math.Min(options.Value.BatchSize, options.Value.MaxPerRun - count) }, cancellationToken: ct))).ToList();
            if (batch.Count == 0) break;
            skipped = 0;
            foreach (var (shop, orderId) in batch)
            {
                if (!settingsOf.TryGetValue(shop, out var settings)) settingsOf[shop] = settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
                long released;
                try
                {
                    await using var tx = await conn.BeginTransactionAsync(ct);
                    await OrderEarnings.LockOrderAsync(conn, tx, shop, orderId, ct);
                    released = await ReleaseLockedAsync(conn, tx, shop, orderId, settings, now, ct);
                    await tx.CommitAsync(ct);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DeadlockDetected)
                {
                    LogGaveWay(shop, orderId, ex.SqlState);
                    skipped++;
                    continue;
                }
                (count, points, notify) = (count + 1, points + released, notify || (settings.PosMode && released > 0));
            }
            if (skipped > 0 && batch.Count == skipped) break; // only orders other work holds are left: the next run takes them
            if (settingsOf.Count > 1000) settingsOf.Clear(); // a run over many shops holds a bounded number of settings
        }
        if (notify) posSync.Notify();
        if (count > 0) LogReleased(count, points);
        return count;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Releasing the due pending points of {Shop} ({Key}) gave way to other work on the same orders ({SqlState}); the job retries")]
    private partial void LogGaveWay(string shop, long key, string sqlState);

    [LoggerMessage(Level = LogLevel.Information, Message = "Released the pending points of {Orders} order(s) whose period is over: {Points} points")]
    private partial void LogReleased(int orders, long points);
}
