namespace Loyalty.ShopifyApp.Features.Expiry;

/// <summary>A lot the customer still holds: <see cref="Points"/> of the row <see cref="LotId"/> that credited the balance.</summary>
public sealed record HeldLot(long LotId, long Points, DateTimeOffset EarnedAt, DateTimeOffset ExpiresAt);

/// <summary>Points that will expire at <see cref="ExpiresAt"/> unless they are spent first (or, for inactivity, the customer is active).</summary>
public sealed record ExpiringPoints(long Points, DateTimeOffset ExpiresAt);

/// <summary>What a customer is told of expiry: the shop's rule and what expires next, soonest first (empty: nothing will).</summary>
/// <param name="Mode">One of <see cref="ExpiryModes"/>.</param>
public sealed record ExpiryNotice(string Mode, int Months, IReadOnlyList<ExpiringPoints> Next)
{
    /// <summary>At most this many dates are listed.</summary>
    public const int MaxListed = 5;
}

/// <summary>
/// What of a customer's lots is still theirs. Every earning into the balance is a lot (<c>loyalty_lots()</c>, migration 0029: net of
/// its own order's refunds and of what expired of it); every other debit takes the oldest lots first and a reversal gives back what
/// its debit took, so the customer holds the newest lots that sum to their balance (the oldest of them only in part), and nothing
/// older. A lot earned before the shop's rule began (<see cref="ShopSettings.ExpirySince"/>) counts from then.
/// </summary>
public static class HeldLots
{
    /// <summary>The lots <paramref name="balance"/> consists of, oldest first, each with when it expires under the shop's rule.</summary>
    public static async Task<IReadOnlyList<HeldLot>> ForCustomerAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customerId,
        long balance, ShopSettings settings, CancellationToken ct)
    {
        if (balance <= 0) return [];
        return (await conn.QueryAsync<HeldLot>(new CommandDefinition("""
            SELECT id AS lot_id, least(points, @balance - (newer_and_this - points))::bigint AS points, earned AS earned_at,
                   loyalty_expires_at(greatest(earned, @since::timestamptz), @months) AS expires_at
            FROM (SELECT id, points, earned, sum(points) OVER (ORDER BY earned DESC, id DESC) AS newer_and_this
                  FROM loyalty_lots(@shop, @customerId) WHERE points > 0) held
            WHERE newer_and_this - points < @balance
            ORDER BY earned, id
            """, new { shop, customerId, balance, months = settings.ExpiryMonths, since = settings.ExpirySince }, tx, cancellationToken: ct)))
            .ToList();
    }

    /// <summary>
    /// When the inactivity period since the customer's last earning or spending ends; null: no activity. Refunds, cancellations and
    /// expiries are neither (a refund must not renew a balance).
    /// </summary>
    public static Task<DateTimeOffset?> LastActivityEndsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customerId,
        ShopSettings settings, CancellationToken ct) =>
        conn.ExecuteScalarAsync<DateTimeOffset?>(new CommandDefinition($"""
            SELECT loyalty_expires_at(greatest(max(coalesce(occurred_at, created_at)), @since::timestamptz), @months) FROM point_transactions
            WHERE shop_domain = @shop AND customer_id = @customerId AND {IsActivity}
            """, new { shop, customerId, months = settings.ExpiryMonths, since = settings.ExpirySince }, tx, cancellationToken: ct));

    /// <summary>The rows that are activity of the customer's (SQL over <c>point_transactions</c>; prefix it with the table's alias).</summary>
    public const string IsActivity = $"kind NOT IN ('{Ledger.Expiry}', 'refund_clawback', 'cancellation_reversal')";

    /// <summary>
    /// Points the customer has spent that the ledger does not show yet: conversions and donations in flight (and, for a POS deduction
    /// that may stand, in compensation or review). They are the newest debits, so they take the oldest lots, and an expiry must leave
    /// those alone; once they settle either way, what is left of the lots expires on a later run.
    /// </summary>
    public static Task<long> SpentInFlightAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customerId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            SELECT (SELECT coalesce(sum(c.points), 0) FROM conversions c
                    WHERE c.shop_domain = @shop AND c.customer_id = @customerId
                      AND (c.state IN ('pending', 'coupon_created', 'settling')
                           OR c.state IN ('compensating', 'needs_review') AND c.deduct_attempted_at IS NOT NULL)
                      AND NOT EXISTS (SELECT 1 FROM point_transactions t WHERE t.shop_domain = c.shop_domain AND t.reference = c.id))
                 + (SELECT coalesce(sum(d.points), 0) FROM donations d
                    WHERE d.shop_domain = @shop AND d.customer_id = @customerId AND d.state = 'pending'
                      AND NOT EXISTS (SELECT 1 FROM point_transactions t WHERE t.shop_domain = d.shop_domain AND t.reference = d.id))
            """, new { shop, customerId }, tx, cancellationToken: ct));

    /// <summary>
    /// What of an order's points expired (its lot's expiry rows): a refund or cancellation after that takes back at most the rest, so
    /// the customer does not lose the same points twice.
    /// </summary>
    public static Task<long> ExpiredOfOrderAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            SELECT coalesce(-sum(x.points), 0) FROM point_transactions l
            JOIN point_transactions x ON x.shop_domain = l.shop_domain AND x.expires_lot = l.id
            WHERE l.shop_domain = @shop AND l.reference IN ('order:' || @orderId, 'release:' || @orderId) AND l.points > 0
            """, new { shop, orderId = orderId.ToString(CultureInfo.InvariantCulture) }, tx, cancellationToken: ct));

    /// <summary>
    /// SQL for the customers (<c>shop_domain, customer_id</c>) of shops whose points expire with something due by <paramref name="horizon"/>
    /// (an SQL expression over <c>s</c>, the shop's settings), after the keyset (<c>@afterShop</c>, <c>@afterCustomer</c>), at most
    /// <c>@limit</c>, and where <paramref name="filter"/> holds: under <c>earned</c>, a balance larger than the lots that expire after the
    /// horizon (so it still holds one that expires before); under <c>inactivity</c>, a last activity whose period ends by then.
    /// Approximate (points held by a spend in flight, lots not at the POS): the customer's own step decides.
    /// </summary>
    public static string DueBy(string horizon, string filter) => $"""
        SELECT b.shop_domain, b.customer_id
        FROM point_balances b JOIN shop_settings s ON s.shop_domain = b.shop_domain
        WHERE b.has_points AND s.expiry_mode <> '{ExpiryModes.Never}' AND {filter}
          AND (b.shop_domain, b.customer_id) > (@afterShop, @afterCustomer)
          AND CASE s.expiry_mode
                WHEN '{ExpiryModes.Earned}' THEN b.balance > (
                    SELECT coalesce(sum(l.points), 0) FROM loyalty_lots(b.shop_domain, b.customer_id) l
                    WHERE l.points > 0 AND loyalty_expires_at(greatest(l.earned, s.expiry_since), s.expiry_months) > {horizon})
                ELSE (SELECT loyalty_expires_at(greatest(max(coalesce(t.occurred_at, t.created_at)), s.expiry_since), s.expiry_months)
                      FROM point_transactions t
                      WHERE t.shop_domain = b.shop_domain AND t.customer_id = b.customer_id AND t.{IsActivity}) <= {horizon}
              END
        ORDER BY b.shop_domain, b.customer_id
        LIMIT @limit
        """;

    /// <summary>
    /// The customers a <see cref="DueBy"/> query selects at <paramref name="now"/>, in key order, read a page of
    /// <paramref name="pageSize"/> at a time (the connection is free between pages: each is read whole before it is handed out).
    /// </summary>
    public static async IAsyncEnumerable<(string Shop, long Customer)> CandidatesAsync(NpgsqlConnection conn, string query, DateTimeOffset now,
        int pageSize, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var after = (Shop: "", Customer: 0L);
        while (true)
        {
            var page = (await conn.QueryAsync<(string Shop, long Customer)>(new CommandDefinition(query,
                new { now, afterShop = after.Shop, afterCustomer = after.Customer, limit = pageSize }, cancellationToken: ct))).ToList();
            if (page.Count == 0) yield break;
            foreach (var candidate in page)
            {
                after = candidate;
                yield return candidate;
            }
        }
    }

    /// <summary>What expires next of <paramref name="balance"/> (the ledger's), for My Page and the admin customer view.</summary>
    public static async Task<ExpiryNotice> NoticeAsync(NpgsqlConnection conn, string shop, long customerId, long balance, ShopSettings settings,
        CancellationToken ct)
    {
        IReadOnlyList<ExpiringPoints> next = [];
        if (balance > 0 && settings.ExpiryMode == ExpiryModes.Earned)
        {
            var lots = await ForCustomerAsync(conn, null, shop, customerId, balance, settings, ct);
            next = [.. lots.GroupBy(l => l.ExpiresAt.UtcDateTime.Date).OrderBy(g => g.Key).Take(ExpiryNotice.MaxListed)
                .Select(g => new ExpiringPoints(g.Sum(l => l.Points), g.Min(l => l.ExpiresAt)))];
        }
        else if (balance > 0 && settings.ExpiryMode == ExpiryModes.Inactivity
            && await LastActivityEndsAsync(conn, null, shop, customerId, settings, ct) is { } ends)
        {
            next = [new ExpiringPoints(balance, ends)];
        }
        return new ExpiryNotice(settings.ExpiryMode, settings.ExpiryMonths, next);
    }
}
