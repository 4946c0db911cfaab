using Loyalty.ShopifyApp.Features.PosSync;

namespace Loyalty.ShopifyApp.Features.Pending;

/// <summary>
/// The end of an order's pending period: what the order still holds (awarded less taken back) moves from the customer's pending
/// points to the balance, as one ledger row <c>release:{order}</c>, and in POS mode goes to the POS like any award. Released by
/// this recurring job and by a customer's or merchant's read or spend
/// (<see cref="ReleaseDueForCustomerAsync(NpgsqlConnection, string, long, CancellationToken)"/>, so no one waits on the job). Until
/// then a refund or cancellation, whenever it is processed, takes from the pending points; an order with one that Shopify sent but the
/// app has not processed yet is not released. The order's advisory lock and the unique reference make every path release an order once.
/// </summary>
public sealed partial class PendingRelease(NpgsqlDataSource db, PosSyncTrigger posSync, ProgramClock clock, IOptions<PendingOptions> options,
    ILogger<PendingRelease> logger)
{
    public const string RecurringId = "pending-release";

    private const string Due = "status = 'awarded' AND pending_until IS NOT NULL AND released_at IS NULL AND pending_until <= @now";

    /// <summary>
    /// A refund or cancellation of the order that Shopify sent and the app has not processed yet (a backlog, a retry): the order waits
    /// for it, so it takes pending points, not points the customer could already have spent.
    /// </summary>
    private const string NothingWaiting = """
        NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                    WHERE d.shop_domain = @shop AND d.order_id = @orderId AND d.topic IN ('refunds/create', 'orders/cancelled')
                      AND d.status IN ('pending', 'processing'))
        """;

    /// <summary>How long a customer's read waits for a lock before it leaves the release to the job.</summary>
    private const int ReadLockTimeoutMs = 2000;

    /// <summary>When an order priced (paid) at <paramref name="pricedAt"/> becomes spendable; null: at once (no pending period).</summary>
    public static DateTimeOffset? PendingUntil(ShopSettings settings, DateTimeOffset pricedAt) =>
        settings.PendingDays > 0 ? pricedAt.ToUniversalTime().AddDays(settings.PendingDays) : null;

    /// <summary>Releases the order if its period is over and it is not released yet; the caller holds the order's lock.</summary>
    /// <returns>The points released (0 when nothing was due, or the order holds nothing any more).</returns>
    public static async Task<long> ReleaseLockedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, ShopSettings settings,
        DateTimeOffset now, CancellationToken ct)
    {
        var order = await conn.QuerySingleOrDefaultAsync<(long? CustomerId, long Points, string? Name, DateTimeOffset Until)?>(
            new CommandDefinition($"""
            SELECT customer_id, awarded_points - taken_back_points, order_name, pending_until FROM order_earnings
            WHERE shop_domain = @shop AND order_id = @orderId AND {Due} AND {NothingWaiting}
            """, new { shop, orderId, now }, tx, cancellationToken: ct));
        if (order is not { } o) return 0;

        if (o.CustomerId is { } customerId && o.Points > 0)
        {
            await Ledger.PostAsync(conn, tx, new PointsEntry(shop, customerId, o.Points, "pending_release", $"release:{orderId}",
                $"Order {o.Name ?? "#" + orderId}: pending period over", "system", OrderId: orderId, PendingPoints: -o.Points, OccurredAt: o.Until),
                new Posting(QueueForPos: settings.PosMode), ct);
            await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "points.released",
                new { customerId, orderId, orderName = o.Name, points = o.Points }, ct);
            await Flow.FlowTriggers.QueueAsync(conn, tx, shop, Flow.FlowTrigger.PointsEarned, $"release:{orderId}", customerId,
                new Dictionary<string, object> { ["Points"] = o.Points, ["Order name"] = o.Name ?? $"#{orderId}" }, ct);
        }
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE order_earnings SET released_at = @now, updated_at = now() WHERE shop_domain = @shop AND order_id = @orderId",
            new { shop, orderId, now }, tx, cancellationToken: ct));
        // Released points count toward the customer's tier from now on.
        if (o.CustomerId is { } member && o.Points > 0) await Tiers.TierEvaluation.EvaluateAsync(conn, tx, shop, member, now, ct);
        return o.CustomerId is null ? 0 : o.Points;
    }

    /// <summary>
    /// Releases whatever of this customer's is due, in one short transaction: run before their balance is shown or spent. Best effort: if
    /// it would have to wait out other work on the same orders (a deadlock or a busy lock), it gives way, and the job releases them.
    /// </summary>
    public async Task<long> ReleaseDueForCustomerAsync(NpgsqlConnection conn, string shop, long customerId, CancellationToken ct)
    {
        var now = clock.Now;
        var due = (await conn.QueryAsync<long>(new CommandDefinition(DueForCustomerSql, new { shop, customerId, now }, cancellationToken: ct)))
            .ToList();
        return await ReleaseDueForCustomerAsync(conn, shop, customerId, due, now, ct);
    }

    /// <summary>The customer's orders due for release, on <c>@shop</c>, <c>@customerId</c> and <c>@now</c> (the program's time).</summary>
    public const string DueForCustomerSql =
        $"SELECT order_id FROM order_earnings WHERE shop_domain = @shop AND customer_id = @customerId AND {Due} ORDER BY order_id";

    /// <summary>
    /// <see cref="ReleaseDueForCustomerAsync(NpgsqlConnection, string, long, CancellationToken)"/> with the due orders read by the
    /// caller (<see cref="DueForCustomerSql"/>, in a batch of its own) at <paramref name="now"/>.
    /// </summary>
    public async Task<long> ReleaseDueForCustomerAsync(NpgsqlConnection conn, string shop, long customerId, IReadOnlyList<long> due,
        DateTimeOffset now, CancellationToken ct)
    {
        if (due.Count == 0) return 0;

        long released = 0;
        ShopSettings settings;
        try
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            // A reader never queues behind other work: an order busy elsewhere is skipped (the job takes it), and no lock is waited on
            // for long while the customer waits for the page.
            await conn.ExecuteAsync(new CommandDefinition($"SET LOCAL lock_timeout = {ReadLockTimeoutMs}", transaction: tx, cancellationToken: ct));
            settings = await ShopSettings.LoadUnderBalanceSourceAsync(conn, tx, shop, ct);
            var mine = new List<long>();
            foreach (var orderId in due)
            {
                if (await OrderEarnings.TryLockOrderAsync(conn, tx, shop, orderId, ct)) mine.Add(orderId);
            }
            foreach (var orderId in mine) released += await ReleaseLockedAsync(conn, tx, shop, orderId, settings, now, ct);
            await tx.CommitAsync(ct);
        }
        catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.LockNotAvailable)
        {
            LogGaveWay(shop, customerId, ex.SqlState);
            return 0;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The customer's page (or spend) goes on with the points as they stand; the job retries and logs each run.
            LogReadReleaseFailed(ex, shop, customerId);
            return 0;
        }
        if (settings.PosMode && released > 0) posSync.Notify();
        return released;
    }

    /// <summary>The recurring run: releases every due order, oldest period first, each in a transaction of its own.</summary>
    public async Task<int> ReleaseDueAsync(CancellationToken ct)
    {
        var now = clock.Now;
        var (count, points, notify, failed) = (0, 0L, false, new HashSet<(string, long)>());
        await using var conn = await db.OpenConnectionAsync(ct);
        while (count < options.Value.MaxPerRun)
        {
            var batch = (await conn.QueryAsync<(string Shop, long OrderId)>(new CommandDefinition($"""
                SELECT shop_domain, order_id FROM order_earnings WHERE {Due} ORDER BY pending_until, shop_domain, order_id LIMIT @limit
                """, new { now, limit = Math.Min(options.Value.BatchSize, options.Value.MaxPerRun - count) + failed.Count },
                cancellationToken: ct))).Where(o => !failed.Contains(o)).ToList();
            if (batch.Count == 0) break; // nothing due, or only what failed (or waits for a refund) in this run
            foreach (var (shop, orderId) in batch)
            {
                long released;
                ShopSettings settings;
                try
                {
                    await using var tx = await conn.BeginTransactionAsync(ct);
                    settings = await ShopSettings.LoadUnderBalanceSourceAsync(conn, tx, shop, ct);
                    await OrderEarnings.LockOrderAsync(conn, tx, shop, orderId, ct);
                    released = await ReleaseLockedAsync(conn, tx, shop, orderId, settings, now, ct);
                    await tx.CommitAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // One order that cannot be released (a deadlock, a shop's broken row) holds back no other; the next run retries it.
                    LogNotReleased(ex, shop, orderId);
                    failed.Add((shop, orderId));
                    continue;
                }
                if (released == 0 && await StillDueAsync(conn, shop, orderId, now, ct)) failed.Add((shop, orderId)); // waits for a refund
                (count, points, notify) = (count + 1, points + released, notify || (settings.PosMode && released > 0));
            }
        }
        if (notify) posSync.Notify();
        if (points > 0) LogReleased(count, points);
        return count;
    }

    private static Task<bool> StillDueAsync(NpgsqlConnection conn, string shop, long orderId, DateTimeOffset now, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition($"""
            SELECT EXISTS (SELECT 1 FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId AND {Due})
            """, new { shop, orderId, now }, cancellationToken: ct));

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Could not release the due pending points of customer {CustomerId} of {Shop} on their read; the job retries")]
    private partial void LogReadReleaseFailed(Exception ex, string shop, long customerId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not release the pending points of order {OrderId} of {Shop}; the next run retries")]
    private partial void LogNotReleased(Exception ex, string shop, long orderId);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Releasing the due pending points of {Shop} ({Key}) gave way to other work on the same orders ({SqlState}); the job retries")]
    private partial void LogGaveWay(string shop, long key, string sqlState);

    [LoggerMessage(Level = LogLevel.Information, Message = "Released the pending points of {Orders} order(s) whose period is over: {Points} points")]
    private partial void LogReleased(int orders, long points);
}
