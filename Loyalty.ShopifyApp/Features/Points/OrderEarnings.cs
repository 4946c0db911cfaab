using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Tiers;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>What the app needs to know about a paid order, from a webhook or from the missed-order sweep.</summary>
public sealed record OrderFacts(
    long OrderId,
    string? Name,
    long? CustomerId,
    bool Test,
    bool Cancelled,
    decimal Subtotal,
    decimal Total,
    string Currency,
    decimal PresentmentTotal,
    IReadOnlyList<DiscountCodeUse>? DiscountCodes = null,
    DateTimeOffset? ProcessedAt = null,
    DateTimeOffset? PaidAt = null,
    DateTimeOffset? UpdatedAt = null);

/// <summary>
/// A discount code an order used, and the amount it took off (shop currency); <paramref name="Estimated"/> when the source
/// could not say exactly (the missed-order sweep: the Admin API names an order's codes without what each took off).
/// </summary>
public sealed record DiscountCodeUse(string Code, decimal Amount, bool Estimated = false);

/// <summary>
/// Order points, decided once per order (<c>order_earnings</c> is keyed by order) and moved through the ledger
/// with business references (<c>order:{id}</c>, <c>refund:{id}</c>, <c>cancel:{id}</c>), so redeliveries,
/// reordering and the sweep cannot award or take back twice. Work on one order is serialized by an advisory
/// lock, which also covers a refund racing its order's award.
///
/// Rounding: an award is floor(amount × rate). A refund takes back the refunded share of the award:
/// floor(award × refunded-so-far / order total) minus what earlier refunds took, so partial refunds that add
/// up to the whole order take back exactly the award, and never more than was awarded.
/// </summary>
public static partial class OrderEarnings
{
    /// <param name="PendingUntil">When the points awarded become spendable, if they are pending until then.</param>
    public sealed record Outcome(string Status, long Points, string? Reason, DateTimeOffset? PendingUntil = null);

    public static async Task<Outcome> AwardAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, OrderFacts order,
        ShopSettings settings, string source, DateTimeOffset now, CancellationToken ct)
    {
        // One round trip, run in order: the order's lock, then under it what was decided and the refunds that came first (none can be
        // added while the lock is held: a refund takes it too).
        string? existing;
        List<(long RefundId, decimal Amount)> earlyRefunds;
        await using (var read = await conn.QueryMultipleAsync(new CommandDefinition($"""
            {LockOrderSql};
            SELECT status FROM order_earnings WHERE shop_domain = @shop AND order_id = @OrderId;
            SELECT refund_id, refunded_amount FROM order_refunds
            WHERE shop_domain = @shop AND order_id = @OrderId AND applied_at IS NULL ORDER BY created_at, refund_id
            """, new { shop, order.OrderId, key = OrderLockKey(shop, order.OrderId) }, tx, cancellationToken: ct)))
        {
            await read.ReadAsync(); // the lock's void
            existing = await read.ReadSingleOrDefaultAsync<string>();
            earlyRefunds = (await read.ReadAsync<(long, decimal)>()).AsList();
        }
        if (existing is not null) return new Outcome("already_" + existing, 0, "the order was already handled");

        // The rule in force when the order was paid (a pay-later order: when its payment came, not when it was placed); a rate
        // changed since does not re-price it.
        var pricedAt = PricedAt(order);
        var rule = await EarnRule.InForceAsync(conn, tx, shop, pricedAt, settings, ct);
        // The customer's tier when the order is awarded multiplies it (1 without one); the order keeps the multiplier it earned at.
        var multiplier = order.CustomerId is { } member ? await TierProgram.EffectiveMultiplierAsync(conn, tx, shop, member, now, ct) : 1m;
        var priced = Price(order, rule, multiplier, settings, now);
        var (amount, points, skip, pendingUntil, pending) = (priced.Amount, priced.Points, priced.Skip, priced.PendingUntil, priced.Pending);

        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO order_earnings (shop_domain, order_id, order_name, customer_id, status, skip_reason, basis, basis_amount, currency,
                                        rate, order_total, awarded_points, source, priced_at, priced_by, pending_until, released_at,
                                        tier_multiplier)
            VALUES (@shop, @OrderId, @Name, @CustomerId, @status, @skip, @basis, @amount, @Currency, @rate, @PresentmentTotal, @awarded, @source,
                    @pricedAt, @pricedBy, @pendingUntil, @releasedAt, @multiplier)
            """, new
        {
            shop, order.OrderId, order.Name, order.CustomerId, status = priced.Status, skip, basis = rule.Basis, amount, order.Currency,
            rate = rule.Rate, order.PresentmentTotal, awarded = priced.Awarded, source, pricedAt, pricedBy = PricedBy(order),
            pendingUntil, releasedAt = priced.ReleasedAt, multiplier,
        }, tx, cancellationToken: ct));
        if (skip is not null)
        {
            // Money spent counts toward a tier whether or not the order earned points (earning off, or rounding to none).
            if (order.CustomerId is { } spender && !order.Cancelled && !order.Test)
            {
                await TierEvaluation.EvaluateAsync(conn, tx, shop, spender, now, ct);
            }
            return new Outcome("skipped", 0, skip);
        }

        await Ledger.PostAsync(conn, tx, new PointsEntry(shop, order.CustomerId!.Value, pending ? 0 : points, "order_award", $"order:{order.OrderId}",
            AwardDescription(order, amount, rule, multiplier), "system",
            OrderId: order.OrderId, Rate: rule.Rate, BasisAmount: amount, Currency: order.Currency, PendingPoints: pending ? points : 0,
            OccurredAt: pricedAt ?? now),
            new Posting(QueueForPos: settings.PosMode), ct);
        await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "points.awarded", new
        {
            customerId = order.CustomerId, orderId = order.OrderId, orderName = order.Name, points, rate = rule.Rate, amount,
            currency = order.Currency, pendingUntil = pending ? pendingUntil : null,
        }, ct);

        // Refunds that arrived before the award are applied now.
        foreach (var (refundId, refunded) in earlyRefunds)
        {
            await ApplyRefundAsync(conn, tx, shop, order.OrderId, refundId, refunded, settings, now, evaluate: false, ct); // once, below
        }
        if (!pending)
        {
            // What the customer keeps of the order (refunds that came first are applied): Flow hears of that, never a gross figure.
            var kept = earlyRefunds.Count == 0 ? points : await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT awarded_points - taken_back_points FROM order_earnings WHERE shop_domain = @shop AND order_id = @OrderId",
                new { shop, order.OrderId }, tx, cancellationToken: ct));
            if (kept > 0)
            {
                await Flow.FlowTriggers.QueueAsync(conn, tx, shop, Flow.FlowTrigger.PointsEarned, $"order:{order.OrderId}", order.CustomerId.Value,
                    new Dictionary<string, object> { ["Points"] = kept, ["Order name"] = order.Name ?? $"#{order.OrderId}" }, ct);
            }
            await TierEvaluation.EvaluateAsync(conn, tx, shop, order.CustomerId.Value, now, ct);
        }
        return new Outcome("awarded", points, null, pending ? pendingUntil : null);
    }

    /// <summary>Records a refund once; takes back its share now if the order was awarded, or when it is.</summary>
    public static async Task<Outcome> RefundAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, long refundId,
        decimal refundedAmount, ShopSettings settings, DateTimeOffset now, CancellationToken ct)
    {
        await LockOrderAsync(conn, tx, shop, orderId, ct);
        var inserted = await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO order_refunds (shop_domain, refund_id, order_id, refunded_amount) VALUES (@shop, @refundId, @orderId, @refundedAmount)
            ON CONFLICT (shop_domain, refund_id) DO NOTHING
            """, new { shop, refundId, orderId, refundedAmount }, tx, cancellationToken: ct));
        if (inserted == 0) return new Outcome("already_handled", 0, "the refund was already handled");

        var status = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT status FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId", new { shop, orderId }, tx, cancellationToken: ct));
        if (status != "awarded") return new Outcome("pending", 0, status is null ? "the order has not been awarded (yet)" : $"the order is {status}");
        return await ApplyRefundAsync(conn, tx, shop, orderId, refundId, refundedAmount, settings, now, evaluate: true, ct);
    }

    /// <summary>Reverses what is left of the order's award and keeps a later paid webhook from awarding it.</summary>
    public static async Task<Outcome> CancelAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, string? name,
        ShopSettings settings, DateTimeOffset now, CancellationToken ct)
    {
        await LockOrderAsync(conn, tx, shop, orderId, ct);
        var earning = await conn.QuerySingleOrDefaultAsync<(string Status, long? CustomerId, long Awarded, long TakenBack, bool Pending)?>(
            new CommandDefinition("""
                SELECT status, customer_id, awarded_points, taken_back_points, pending_until IS NOT NULL AND released_at IS NULL
                FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId
                """, new { shop, orderId }, tx, cancellationToken: ct));
        if (earning is null)
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO order_earnings (shop_domain, order_id, order_name, status, skip_reason, source)
                VALUES (@shop, @orderId, @name, 'cancelled', 'cancelled before it was paid or awarded', 'webhook')
                """, new { shop, orderId, name }, tx, cancellationToken: ct));
            return new Outcome("cancelled", 0, "nothing was awarded");
        }
        var (status, customerId, awarded, takenBack, inPending) = earning.Value;
        if (status == "cancelled") return new Outcome("already_cancelled", 0, null);

        // Points of the order that expired are gone already: the cancellation takes back at most the rest.
        var remaining = status == "awarded" ? Math.Max(0, awarded - takenBack - await ExpiredAsync(conn, tx, shop, orderId, settings, ct)) : 0;
        if (remaining > 0 && customerId is { } customer)
        {
            await Ledger.PostAsync(conn, tx, new PointsEntry(shop, customer, inPending ? 0 : -remaining, "cancellation_reversal", $"cancel:{orderId}",
                $"Order {name ?? "#" + orderId} cancelled{(inPending ? " (its points were still pending)" : "")}", "system", OrderId: orderId,
                PendingPoints: inPending ? -remaining : 0),
                new Posting(QueueForPos: settings.PosMode, FloorAtZero: settings.NegativeBalancePolicy == "floor_at_zero"), ct);
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE order_earnings SET status = 'cancelled', taken_back_points = awarded_points, updated_at = now()
            WHERE shop_domain = @shop AND order_id = @orderId
            """, new { shop, orderId }, tx, cancellationToken: ct));
        if (status == "awarded" && customerId is { } member) await TierEvaluation.EvaluateAsync(conn, tx, shop, member, now, ct, takenBack: true);
        return new Outcome(inPending ? "cancelled_pending" : "cancelled", -remaining, null);
    }

    private static async Task<Outcome> ApplyRefundAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, long refundId,
        decimal refundedAmount, ShopSettings settings, DateTimeOffset now, bool evaluate, CancellationToken ct)
    {
        var e = await conn.QuerySingleAsync<(long? CustomerId, long Awarded, long TakenBack, decimal Total, decimal Refunded, string? Name,
            bool Pending)>(new CommandDefinition("""
                SELECT customer_id, awarded_points, taken_back_points, order_total, refunded_amount, order_name,
                       pending_until IS NOT NULL AND released_at IS NULL
                FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId
                """, new { shop, orderId }, tx, cancellationToken: ct));

        var before = Math.Min(e.Refunded, e.Total);
        var after = Math.Min(e.Refunded + refundedAmount, e.Total);
        var share = e.Total <= 0 ? e.Awarded
            : (long)decimal.Floor(e.Awarded * after / e.Total) - (long)decimal.Floor(e.Awarded * before / e.Total);
        if (e.CustomerId is not { } customerId)
        {
            // Erased by customers/redact: no one is left to take points from, and no account to post to.
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE order_earnings SET refunded_amount = refunded_amount + @refundedAmount, updated_at = now()
                WHERE shop_domain = @shop AND order_id = @orderId;
                UPDATE order_refunds SET applied_at = now(), clawed_points = 0 WHERE shop_domain = @shop AND refund_id = @refundId;
                """, new { shop, orderId, refundId, refundedAmount }, tx, cancellationToken: ct));
            return new Outcome("clawed_back", 0, "the customer was erased");
        }
        // Points of the order that expired are gone already: a refund takes back at most the rest.
        var claw = Math.Clamp(share, 0, Math.Max(0, e.Awarded - e.TakenBack - await ExpiredAsync(conn, tx, shop, orderId, settings, ct)));

        // While the order's points are pending (not released yet, whatever the date) the refund takes its share out of them, never the
        // spendable balance: a refund that waited in a backlog past the period must not claw back points already spent.
        var posted = await Ledger.PostAsync(conn, tx, new PointsEntry(shop, customerId, e.Pending ? 0 : -claw, "refund_clawback",
            $"refund:{refundId}",
            $"Refund on order {e.Name ?? "#" + orderId}: {refundedAmount:0.00} of {e.Total:0.00}"
                + (e.Pending ? " (its points were still pending)" : ""),
            "system", OrderId: orderId, PendingPoints: e.Pending ? -claw : 0),
            new Posting(QueueForPos: settings.PosMode, FloorAtZero: settings.NegativeBalancePolicy == "floor_at_zero"), ct);
        var clawed = e.Pending ? claw : -posted.Points;

        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE order_earnings SET refunded_amount = refunded_amount + @refundedAmount, taken_back_points = taken_back_points + @claw, updated_at =
                now()
            WHERE shop_domain = @shop AND order_id = @orderId;
            UPDATE order_refunds SET applied_at = now(), clawed_points = @clawed WHERE shop_domain = @shop AND refund_id = @refundId;
            """, new { shop, orderId, refundId, refundedAmount, claw, clawed }, tx, cancellationToken: ct));
        if (evaluate) await TierEvaluation.EvaluateAsync(conn, tx, shop, customerId, now, ct, takenBack: true);
        return new Outcome(e.Pending ? "clawed_back_pending" : "clawed_back", -clawed, null);
    }

    /// <summary>What of the order's points expired (none in a shop whose points never expired).</summary>
    private static async Task<long> ExpiredAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, ShopSettings settings,
        CancellationToken ct) =>
        settings.ExpiryMode == ExpiryModes.Never && settings.ExpirySince is null
            ? 0
            : await HeldLots.ExpiredOfOrderAsync(conn, tx, shop, orderId, ct);

    /// <summary>The order's lock if no one else holds it now (a reader that must not wait); false when busy.</summary>
    internal static Task<bool> TryLockOrderAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_xact_lock(hashtextextended(@key, 0))",
            new { key = OrderLockKey(shop, orderId) }, tx, cancellationToken: ct));

    /// <summary>Serialises all work on one order (award, refunds, cancel, release) across transactions and instances.</summary>
    internal static Task LockOrderAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition(LockOrderSql, new { key = OrderLockKey(shop, orderId) }, tx, cancellationToken: ct));

    /// <summary>The order's lock (<see cref="LockOrderAsync"/>), on <c>@key</c>, for a batch that goes on under it.</summary>
    private const string LockOrderSql = "SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))";

    private static string OrderLockKey(string shop, long orderId) => $"order:{shop}:{orderId}";
}
