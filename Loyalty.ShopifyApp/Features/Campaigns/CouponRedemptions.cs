namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>orders/paid</c> with <c>discount_codes</c>: each code this app made (a campaign code or a loyalty coupon) is
/// recorded as redeemed with the order, customer, discount and order amount, once per order and code.
/// </summary>
public static class CouponRedemptions
{
    public static async Task<int> RecordAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, OrderFacts order, CancellationToken ct)
    {
        var recorded = 0;
        foreach (var use in order.DiscountCodes ?? [])
        {
            var inserted = await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO coupon_redemptions (shop_domain, code, campaign_id, conversion_id, order_id, customer_id, discount_amount, order_amount)
                SELECT @shop, found.code, found.campaign_id, found.conversion_id, @OrderId, @CustomerId, @Amount, @Total
                FROM (SELECT k.code, k.campaign_id, NULL::text AS conversion_id FROM campaign_codes k
                      WHERE k.shop_domain = @shop AND upper(k.code) = upper(@Code) AND k.state <> @released
                      UNION ALL
                      SELECT c.code, NULL, c.id FROM conversions c WHERE c.shop_domain = @shop AND upper(c.code) = upper(@Code)) found
                LIMIT 1
                ON CONFLICT (shop_domain, order_id, upper(code)) DO NOTHING
                """, new { shop, order.OrderId, order.CustomerId, use.Amount, use.Code, order.Total, released = CodeState.Released }, tx,
                    cancellationToken: ct));
            if (inserted == 0) continue;
            recorded++;
            await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "coupon.redeemed", new
            {
                code = use.Code, orderId = order.OrderId, customerId = order.CustomerId, discountAmount = use.Amount, orderAmount = order.Total,
                currency = order.Currency,
            }, ct);
        }
        return recorded;
    }
}
