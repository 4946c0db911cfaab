namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Coupons from conversions used in a paid order are marked used (and the customer's metafield follows), whether the
/// order came as a webhook or was found by the missed-order sweep. A coupon being cancelled is used after all (its
/// points are not given back); one already cancelled, its points given back, becomes an incident in the merchant's
/// review queue with the amount at stake.
/// </summary>
public static partial class CouponUse
{
    public static async Task<int> MarkUsedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long orderId,
        IReadOnlyList<string> codes, string detectedBy, ILogger logger, CancellationToken ct)
    {
        if (codes.Count == 0) return 0;
        var upper = codes.Select(code => code.ToUpperInvariant()).ToArray();
        var rows = (await conn.QueryAsync<(string Id, string Code, string Status)>(new CommandDefinition("""
            UPDATE conversions c SET coupon_status = CASE WHEN c.coupon_status IN ('active', 'cancelling') THEN 'used' ELSE c.coupon_status END,
                used_order_id = coalesce(c.used_order_id, @orderId), used_at = coalesce(c.used_at, now()), metafield_synced_at = NULL, updated_at =
                    now()
            FROM (SELECT id, coupon_status AS before FROM conversions
                  WHERE shop_domain = @shop AND upper(code) = ANY(@upper) AND state = 'completed'
                    AND used_order_id IS DISTINCT FROM @orderId -- an order seen again (a resend, the sweep's overlap) changes nothing
                  FOR UPDATE) b
            WHERE c.id = b.id
            RETURNING c.id, c.code, b.before
            """, new { shop, orderId, upper }, tx, cancellationToken: ct))).ToList();
        foreach (var row in rows.Where(r => r.Status == CouponStatuses.Cancelled))
        {
            var opened = await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO coupon_incidents (shop_domain, conversion_id, order_id, kind, code, amount, currency, points, detected_by)
                SELECT shop_domain, id, @orderId, 'used_after_cancel', code, amount, currency, points, @detectedBy FROM conversions WHERE id = @id
                ON CONFLICT (conversion_id, order_id) DO NOTHING
                """, new { id = row.Id, orderId, detectedBy }, tx, cancellationToken: ct));
            if (opened > 0) LogUsedAfterCancel(logger, shop, row.Code, orderId);
        }
        return rows.Count;
    }

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Coupon {Code} of {Shop} was used in order {OrderId} after it was cancelled and its points given back; an incident awaits the " +
            "merchant")]
    private static partial void LogUsedAfterCancel(ILogger logger, string shop, string code, long orderId);
}
