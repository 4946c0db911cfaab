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
/// What of a customer's lots is still theirs. Every credit to the balance is a lot (<c>loyalty_lots()</c>, migration 0029: net of its
/// own order's refunds, without the lots that expired); every other debit takes the oldest lots first, so the customer holds the
/// newest lots that sum to their balance (the oldest of them only in part), and nothing older.
/// </summary>
public static class HeldLots
{
    /// <summary>The lots <paramref name="balance"/> consists of, oldest first, each with when it expires under <paramref name="months"/>.</summary>
    public static async Task<IReadOnlyList<HeldLot>> ForCustomerAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customerId,
        long balance, int months, CancellationToken ct)
    {
        if (balance <= 0) return [];
        return (await conn.QueryAsync<HeldLot>(new CommandDefinition("""
            SELECT id AS lot_id, least(points, @balance - (newer_and_this - points))::bigint AS points, earned AS earned_at,
                   loyalty_expires_at(earned, @months) AS expires_at
            FROM (SELECT id, points, earned, sum(points) OVER (ORDER BY earned DESC, id DESC) AS newer_and_this
                  FROM loyalty_lots(@shop, @customerId) WHERE points > 0) held
            WHERE newer_and_this - points < @balance
            ORDER BY earned, id
            """, new { shop, customerId, balance, months }, tx, cancellationToken: ct))).ToList();
    }

    /// <summary>When the inactivity period since the customer's last earning or spending (an expiry is neither) ends; null: no activity.</summary>
    public static Task<DateTimeOffset?> LastActivityEndsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customerId,
        int months, CancellationToken ct) =>
        conn.ExecuteScalarAsync<DateTimeOffset?>(new CommandDefinition($"""
            SELECT loyalty_expires_at(max(coalesce(earned_at, created_at)), @months) FROM point_transactions
            WHERE shop_domain = @shop AND customer_id = @customerId AND kind <> '{Ledger.Expiry}'
            """, new { shop, customerId, months }, tx, cancellationToken: ct));

    /// <summary>
    /// What of an order's points expired (its lot's expiry row): a refund or cancellation after that takes back at most the rest, so
    /// the customer does not lose the same points twice.
    /// </summary>
    public static Task<long> ExpiredOfOrderAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            SELECT coalesce(-sum(x.points), 0) FROM point_transactions l
            JOIN point_transactions x ON x.shop_domain = l.shop_domain AND x.reference = 'expire:' || l.id
            WHERE l.shop_domain = @shop AND l.order_id = @orderId AND l.kind IN ('order_award', 'pending_release') AND l.points > 0
            """, new { shop, orderId }, tx, cancellationToken: ct));

    /// <summary>What expires next of <paramref name="balance"/> (the ledger's), for My Page and the admin customer view.</summary>
    public static async Task<ExpiryNotice> NoticeAsync(NpgsqlConnection conn, string shop, long customerId, long balance, ShopSettings settings,
        CancellationToken ct)
    {
        IReadOnlyList<ExpiringPoints> next = [];
        if (balance > 0 && settings.ExpiryMode == ExpiryModes.Earned)
        {
            var lots = await ForCustomerAsync(conn, null, shop, customerId, balance, settings.ExpiryMonths, ct);
            next = [.. lots.GroupBy(l => l.ExpiresAt.UtcDateTime.Date).OrderBy(g => g.Key).Take(ExpiryNotice.MaxListed)
                .Select(g => new ExpiringPoints(g.Sum(l => l.Points), g.Min(l => l.ExpiresAt)))];
        }
        else if (balance > 0 && settings.ExpiryMode == ExpiryModes.Inactivity
            && await LastActivityEndsAsync(conn, null, shop, customerId, settings.ExpiryMonths, ct) is { } ends)
        {
            next = [new ExpiringPoints(balance, ends)];
        }
        return new ExpiryNotice(settings.ExpiryMode, settings.ExpiryMonths, next);
    }
}
