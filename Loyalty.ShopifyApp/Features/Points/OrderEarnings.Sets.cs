using Loyalty.ShopifyApp.Features.Events;
using Loyalty.ShopifyApp.Features.Flow;
using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// Many paid orders of one shop awarded at once, as <see cref="AwardAsync"/> awards each, in a few statements for them all: what a
/// flash sale's deliveries need (<c>Webhooks:SetHandling</c>). Only the plain case goes this way; anything else goes one by one.
/// </summary>
public static partial class OrderEarnings
{
    /// <summary>What an order earns under a rule: its points, or why none, and when they become spendable.</summary>
    internal sealed record Priced(decimal Amount, long Points, string? Skip, string Status, DateTimeOffset? PendingUntil, bool Pending,
        DateTimeOffset? ReleasedAt)
    {
        public long Awarded => Skip is null ? Points : 0;
    }

    /// <summary>The orders of a set that may be awarded together, each with the rule in force when it was paid.</summary>
    public sealed record PreparedSet(IReadOnlyList<(OrderFacts Order, EarnRule Rule)> Orders, bool Events, bool Flow);

    internal static Priced Price(OrderFacts order, EarnRule rule, decimal multiplier, ShopSettings settings, DateTimeOffset now)
    {
        var amount = rule.Basis == "total" ? order.Total : order.Subtotal;
        var points = (long)decimal.Floor(amount * rule.Rate * multiplier);
        var skip = order.Cancelled ? "order is cancelled"
            : order.CustomerId is null ? "no customer (guest checkout)"
            : rule.Rate == 0 ? "earning is off (rate 0)"
            : order.Test && !rule.TestOrdersEarn ? "test order"
            : amount <= 0 ? "zero amount"
            : points <= 0 ? "amount × rate rounds down to zero points"
            : null;
        // The shop's pending period runs from payment; an order found after it (the sweep, a late webhook) is spendable at once.
        var pendingUntil = skip is null ? PendingRelease.PendingUntil(settings, PricedAt(order) ?? now) : null;
        var pending = pendingUntil > now;
        return new Priced(amount, points, skip, skip is null ? "awarded" : order.Cancelled ? "cancelled" : "skipped", pendingUntil, pending,
            pendingUntil is not null && !pending ? now : null);
    }

    /// <summary>When the order is priced: its payment, else when it was processed (UTC: Npgsql writes timestamptz from UTC only).</summary>
    internal static DateTimeOffset? PricedAt(OrderFacts order) => (order.PaidAt ?? order.ProcessedAt)?.ToUniversalTime();

    internal static string PricedBy(OrderFacts order) => order.PaidAt is not null ? "paid" : order.ProcessedAt is not null ? "processed" : "current";

    internal static string AwardDescription(OrderFacts order, decimal amount, EarnRule rule, decimal multiplier) =>
        $"Order {order.Name ?? "#" + order.OrderId}: {amount:0.00} {order.Currency} × {rule.Rate:0.####}"
        + (multiplier == 1m ? "" : $" × {multiplier:0.###} (tier)");

    /// <summary>
    /// Locks <paramref name="orders"/> (orders of distinct customers) and picks those that may be awarded together: none decided
    /// yet and none with refunds waiting for it. None may when the shop's awards need more than the plain case does (the POS to
    /// hear of them, a pending period, tiers, or a tier row of one of these customers): those go one by one.
    /// </summary>
    public static async Task<PreparedSet> PrepareSetAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, IReadOnlyList<OrderFacts> orders,
        ShopSettings settings, CancellationToken ct)
    {
        if (settings.PosMode || settings.PendingDays > 0 || orders.Count == 0) return new PreparedSet([], false, false);
        // Every set takes its orders' locks in the same (sorted) order, one by one as unnest gives them.
        var keys = orders.Select(o => OrderLockKey(shop, o.OrderId)).Order(StringComparer.Ordinal).ToArray();
        var ats = orders.Select(o => Ledger.Instant(PricedAt(o) ?? DateTimeOffset.UnixEpoch)).ToArray(); // a null time: the current rule
        await using var read = await conn.QueryMultipleAsync(new CommandDefinition($"""
            SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(@keys) AS k;
            SELECT order_id FROM order_earnings WHERE shop_domain = @shop AND order_id = ANY(@ids)
            UNION SELECT order_id FROM order_refunds WHERE shop_domain = @shop AND order_id = ANY(@ids) AND applied_at IS NULL;
            SELECT EXISTS (SELECT 1 FROM tiers WHERE shop_domain = @shop AND archived_at IS NULL)
                OR EXISTS (SELECT 1 FROM customer_tiers WHERE shop_domain = @shop AND customer_id = ANY(@customers));
            SELECT EXISTS (SELECT 1 FROM event_endpoints WHERE shop_domain = @shop);
            SELECT EXISTS (SELECT 1 FROM flow_trigger_usage u WHERE u.shop_domain = @shop AND u.trigger IN (@handle, @title) AND u.enabled);
            {EarnRule.InForceSetSql}
            """, new
        {
            shop, keys, ids = orders.Select(o => o.OrderId).ToArray(), customers = orders.Select(o => o.CustomerId ?? 0).ToArray(), ats,
            handle = FlowTrigger.PointsEarned.Handle, title = FlowTrigger.PointsEarned.Title,
        }, tx, cancellationToken: ct));
        await read.ReadAsync(); // the locks' voids
        var decided = (await read.ReadAsync<long>()).ToHashSet();
        var tiers = await read.ReadSingleAsync<bool>();
        var events = await read.ReadSingleAsync<bool>();
        var flow = await read.ReadSingleAsync<bool>();
        var rules = (await read.ReadAsync<EarnRule.Found>()).ToList();
        if (tiers) return new PreparedSet([], false, false);
        var plain = orders.Select((o, i) => (Order: o, Rule: EarnRule.Of(rules[i], PricedAt(o), settings)))
            .Where(x => !decided.Contains(x.Order.OrderId)).ToList();
        return new PreparedSet(plain, events, flow);
    }

    /// <summary>
    /// Awards a prepared set (its orders locked, in this transaction) as <see cref="AwardAsync"/> would one by one, in order; the
    /// outcomes in the same order.
    /// </summary>
    public static async Task<IReadOnlyList<Outcome>> AwardSetAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, PreparedSet set,
        ShopSettings settings, string source, DateTimeOffset now, CancellationToken ct)
    {
        var orders = set.Orders;
        var priced = orders.Select(o => Price(o.Order, o.Rule, 1m, settings, now)).ToList();
        if (settings.PosMode || priced.Any(p => p.PendingUntil is not null))
        {
            throw new InvalidOperationException("A set's awards are never pending, nor for the POS to hear of."); // PrepareSetAsync keeps them out
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO order_earnings (shop_domain, order_id, order_name, customer_id, status, skip_reason, basis, basis_amount, currency,
                                        rate, order_total, awarded_points, source, priced_at, priced_by, tier_multiplier)
            SELECT @shop, o.order_id, o.order_name, o.customer_id, o.status, o.skip_reason, o.basis, o.basis_amount, o.currency, o.rate,
                   o.order_total, o.awarded_points, o.source, o.priced_at, o.priced_by, 1
            FROM unnest(@ids, @names, @customers, @statuses, @skips, @bases, @amounts, @currencies, @rates, @totals, @awarded, @sources,
                        @pricedAt::text[]::timestamptz[], @pricedBy)
                 WITH ORDINALITY AS o(order_id, order_name, customer_id, status, skip_reason, basis, basis_amount, currency, rate, order_total,
                                      awarded_points, source, priced_at, priced_by, i)
            ORDER BY o.i
            """, new
        {
            shop, ids = orders.Select(o => o.Order.OrderId).ToArray(), names = orders.Select(o => o.Order.Name).ToArray(),
            customers = orders.Select(o => o.Order.CustomerId!.Value).ToArray(), statuses = priced.Select(p => p.Status).ToArray(),
            skips = priced.Select(p => p.Skip).ToArray(), bases = orders.Select(o => o.Rule.Basis).ToArray(),
            amounts = priced.Select(p => p.Amount).ToArray(), currencies = orders.Select(o => o.Order.Currency).ToArray(),
            rates = orders.Select(o => o.Rule.Rate).ToArray(), totals = orders.Select(o => o.Order.PresentmentTotal).ToArray(),
            awarded = priced.Select(p => p.Awarded).ToArray(), sources = orders.Select(_ => source).ToArray(),
            pricedAt = orders.Select(o => Ledger.Instant(PricedAt(o.Order))).ToArray(), pricedBy = orders.Select(o => PricedBy(o.Order)).ToArray(),
        }, tx, cancellationToken: ct));

        var awards = orders.Zip(priced).Where(x => x.Second.Skip is null).ToList();
        await Ledger.PostCreditsAsync(conn, tx, shop, [.. awards.Select(x => new PointsEntry(shop, x.First.Order.CustomerId!.Value, x.Second.Points,
            "order_award", $"order:{x.First.Order.OrderId}", AwardDescription(x.First.Order, x.Second.Amount, x.First.Rule, 1m), "system",
            OrderId: x.First.Order.OrderId, Rate: x.First.Rule.Rate, BasisAmount: x.Second.Amount, Currency: x.First.Order.Currency,
            OccurredAt: PricedAt(x.First.Order) ?? now))], ct);
        // Each event and trigger as AwardAsync writes it (each statement checks the shop's endpoint or workflow again), only for a shop
        // that has one: most have neither.
        if (awards.Count > 0 && (set.Events || set.Flow))
        {
            await using var batch = new NpgsqlBatch(conn, tx);
            foreach (var ((order, rule), p) in awards)
            {
                if (set.Events)
                {
                    batch.BatchCommands.Add(OutgoingEvents.EmitCommand(shop, "points.awarded", new
                    {
                        customerId = order.CustomerId, orderId = order.OrderId, orderName = order.Name, points = p.Points, rate = rule.Rate,
                        amount = p.Amount, currency = order.Currency, pendingUntil = (DateTimeOffset?)null,
                    }));
                }
                if (set.Flow)
                {
                    batch.BatchCommands.Add(FlowTriggers.QueueCommand(shop, FlowTrigger.PointsEarned, $"order:{order.OrderId}",
                        order.CustomerId!.Value,
                        new Dictionary<string, object> { ["Points"] = p.Points, ["Order name"] = order.Name ?? $"#{order.OrderId}" }));
                }
            }
            await batch.ExecuteNonQueryAsync(ct);
        }
        // No tier to evaluate: the set was prepared only for a shop without tiers and customers without a tier row.
        return [.. priced.Select(p => p.Skip is null ? new Outcome("awarded", p.Points, null) : new Outcome("skipped", 0, p.Skip))];
    }
}
