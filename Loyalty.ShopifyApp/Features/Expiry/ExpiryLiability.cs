namespace Loyalty.ShopifyApp.Features.Expiry;

/// <summary>
/// The program's liability as the merchant's dashboard shows it: the points customers hold, what they are worth in shop currency,
/// and how many of them expire soon unless spent (already due ones included: the job or the customer's next read expires them).
/// </summary>
public static class ExpiryLiability
{
    /// <summary>Points of the shop's customers that expire by <paramref name="until"/> under <paramref name="settings"/> (0: none ever do).</summary>
    public static async Task<long> ExpiringByAsync(NpgsqlConnection conn, string shop, ShopSettings settings, DateTimeOffset until,
        CancellationToken ct)
    {
        var args = new { shop, months = settings.ExpiryMonths, since = settings.ExpirySince, until };
        return settings.ExpiryMode switch
        {
            // Each customer's held lots (the newest that sum to their balance), as HeldLots reads them for one.
            ExpiryModes.Earned => await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
                WITH lots AS (
                    SELECT l.points, b.balance, l.earned,
                           sum(l.points) OVER (PARTITION BY b.customer_id ORDER BY l.earned DESC, l.id DESC) AS newer_and_this
                    FROM point_balances b CROSS JOIN LATERAL loyalty_lots(b.shop_domain, b.customer_id) l
                    WHERE b.shop_domain = @shop AND b.has_points AND l.points > 0)
                SELECT coalesce(sum(least(points, balance - (newer_and_this - points))), 0)::bigint FROM lots
                WHERE newer_and_this - points < balance AND loyalty_expires_at(greatest(earned, @since::timestamptz), @months) <= @until
                """, args, cancellationToken: ct)),
            ExpiryModes.Inactivity => await conn.ExecuteScalarAsync<long>(new CommandDefinition($"""
                SELECT coalesce(sum(b.balance), 0)::bigint FROM point_balances b
                WHERE b.shop_domain = @shop AND b.has_points
                  AND (SELECT loyalty_expires_at(greatest(max(coalesce(t.occurred_at, t.created_at)), @since::timestamptz), @months)
                       FROM point_transactions t
                       WHERE t.shop_domain = b.shop_domain AND t.customer_id = b.customer_id AND t.{HeldLots.IsActivity}) <= @until
                """, args, cancellationToken: ct)),
            _ => 0,
        };
    }
}
