namespace Loyalty.ShopifyApp.Features.Points;

public static partial class Ledger
{
    /// <summary>
    /// Credits to distinct customers of one shop posted as <see cref="PostAsync"/> posts each, in three statements for them all:
    /// the balance rows made sure of and locked (in customer order, as every set locks them), the ledger rows in the order given,
    /// each with the balance it leads to, and the balances moved. Only new, dated, spendable earnings (no pending points, nothing
    /// for the POS to hear of): a reference posted before fails the whole statement on its unique key, so the caller's savepoint undoes
    /// the set and the entries go one by one, where each answers as it was. The schema's triggers check every row as for one.
    /// The balances are found by key (<c>= ANY</c>) whatever join the planner picks for the set: joined on the unnest alone, a plan
    /// made while the shop had few customers hashed every balance row of the shop for each set.
    /// </summary>
    public static async Task PostCreditsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, IReadOnlyList<PointsEntry> entries,
        CancellationToken ct)
    {
        if (entries.Count == 0) return;
        if (entries.Any(e => e.Shop != shop || e.Points <= 0 || e.PendingPoints != 0 || !EarningKinds.Contains(e.Kind) || e.ExpiresLot is not null
                                 || e.OccurredAt is null)
            || entries.Select(e => e.CustomerId).Distinct().Count() != entries.Count)
        {
            throw new ArgumentException("A set of credits is new, dated earnings of distinct customers of one shop.", nameof(entries));
        }
        var customers = entries.Select(e => e.CustomerId).ToArray();
        // Created and locked in customer order, as every set does, so two sets wait for each other instead of deadlocking.
        var before = (await conn.QueryAsync<(long Customer, long Balance, long Pending)>(new CommandDefinition("""
            INSERT INTO point_balances (shop_domain, customer_id) SELECT @shop, unnest(@sorted) ON CONFLICT DO NOTHING;
            SELECT customer_id, balance, pending FROM point_balances WHERE shop_domain = @shop AND customer_id = ANY(@sorted)
            ORDER BY customer_id FOR UPDATE;
            """, new { shop, sorted = customers.Order().ToArray() }, tx, cancellationToken: ct))).ToDictionary(b => b.Customer);

        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, actor_id,
                                            order_id, rate, basis_amount, currency, balance_after, pos_authoritative, pending_points, pending_after,
                                            occurred_at)
            SELECT @shop, e.customer_id, e.points, e.kind, e.reference, e.description, e.actor_type, e.actor_id,
                   e.order_id, e.rate, e.basis_amount, e.currency, e.balance_after, false, 0, e.pending_after, e.occurred_at
            FROM unnest(@customers, @points, @kinds, @references, @descriptions, @actorTypes, @actorIds, @orderIds, @rates, @basisAmounts,
                        @currencies, @balanceAfter, @pendingAfter, @occurredAt::text[]::timestamptz[])
                 WITH ORDINALITY AS e(customer_id, points, kind, reference, description, actor_type, actor_id, order_id, rate, basis_amount,
                                      currency, balance_after, pending_after, occurred_at, i)
            ORDER BY e.i;
            UPDATE point_balances b
            SET balance = b.balance + e.points, total_earned = b.total_earned + e.points, updated_at = now()
            FROM unnest(@customers, @points) AS e(customer_id, points)
            WHERE b.shop_domain = @shop AND b.customer_id = ANY(@customers) AND b.customer_id = e.customer_id;
            """, new
        {
            shop, customers, points = entries.Select(e => e.Points).ToArray(), kinds = entries.Select(e => e.Kind).ToArray(),
            references = entries.Select(e => e.Reference).ToArray(), descriptions = entries.Select(e => e.Description).ToArray(),
            actorTypes = entries.Select(e => e.ActorType).ToArray(), actorIds = entries.Select(e => e.ActorId).ToArray(),
            orderIds = entries.Select(e => e.OrderId).ToArray(), rates = entries.Select(e => e.Rate).ToArray(),
            basisAmounts = entries.Select(e => e.BasisAmount).ToArray(), currencies = entries.Select(e => e.Currency).ToArray(),
            balanceAfter = entries.Select(e => before[e.CustomerId].Balance + e.Points).ToArray(),
            pendingAfter = entries.Select(e => before[e.CustomerId].Pending).ToArray(),
            occurredAt = entries.Select(e => Instant(e.OccurredAt)).ToArray(),
        }, tx, cancellationToken: ct));
    }

    /// <summary>
    /// An instant as a set's statements take it, in an array of text cast to <c>timestamptz[]</c>: ISO 8601 in UTC, cut to the
    /// microsecond as Npgsql cuts a single value, so a row written in a set has exactly the time it would have had alone.
    /// </summary>
    internal static string? Instant(DateTimeOffset? at) =>
        at is { } t
            ? new DateTime(t.UtcTicks - t.UtcTicks % 10, DateTimeKind.Utc).ToString("O", System.Globalization.CultureInfo.InvariantCulture)
            : null;
}
