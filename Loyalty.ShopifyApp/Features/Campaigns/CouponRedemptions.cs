namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>orders/paid</c> with <c>discount_codes</c>: each code this app made (a campaign code or a loyalty coupon) is
/// recorded as redeemed with the order, customer, discount and order amount, once per order and code. A use the missed-order
/// sweep recorded with an estimated discount takes the exact amount when the order's webhook comes after it.
/// </summary>
public static class CouponRedemptions
{
    public static async Task<int> RecordAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, OrderFacts order, CancellationToken ct)
    {
        var recorded = 0;
        foreach (var use in order.DiscountCodes ?? [])
        {
            // true: a new use; false: an estimate made exact; none: nothing to do (not our code, or recorded already).
            var inserted = await conn.QuerySingleOrDefaultAsync<bool?>(new CommandDefinition("""
                INSERT INTO coupon_redemptions (shop_domain, code, campaign_id, conversion_id, order_id, customer_id, discount_amount, order_amount,
                                                amount_estimated)
                SELECT @shop, found.code, found.campaign_id, found.conversion_id, @OrderId, @CustomerId, @Amount, @Total, @Estimated
                FROM (SELECT k.code, k.campaign_id, NULL::text AS conversion_id FROM campaign_codes k
                      WHERE k.shop_domain = @shop AND upper(k.code) = upper(@Code) AND k.state <> @released
                      UNION ALL
                      SELECT c.code, NULL, c.id FROM conversions c WHERE c.shop_domain = @shop AND upper(c.code) = upper(@Code)) found
                LIMIT 1
                ON CONFLICT (shop_domain, order_id, upper(code)) DO UPDATE SET discount_amount = excluded.discount_amount, amount_estimated = false
                    WHERE coupon_redemptions.amount_estimated AND NOT excluded.amount_estimated
                RETURNING xmax = 0
                """, new { shop, order.OrderId, order.CustomerId, use.Amount, use.Code, order.Total, use.Estimated,
                    released = CodeState.Released }, tx, cancellationToken: ct));
            if (inserted is not true) continue;
            recorded++;
            await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "coupon.redeemed", new
            {
                code = use.Code, orderId = order.OrderId, customerId = order.CustomerId, discountAmount = use.Amount,
                amountEstimated = use.Estimated, orderAmount = order.Total,
                currency = order.Currency,
            }, ct);
        }
        return recorded;
    }
}
