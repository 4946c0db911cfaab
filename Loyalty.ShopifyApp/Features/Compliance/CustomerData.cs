using System.Text.Json.Nodes;

namespace Loyalty.ShopifyApp.Features.Compliance;

/// <summary>
/// Everything the app holds about one customer of one shop, in one place: what a data request exports and
/// what a redaction erases. A feature that starts storing customer data adds its table to both methods.
/// </summary>
public static class CustomerData
{
    public static async Task<JsonObject> ExportAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customerId,
        long[] orderIds, CancellationToken ct)
    {
        var deliveries = await conn.QueryAsync<(string Topic, DateTime ReceivedAt, long? OrderId, string? Payload)>(new CommandDefinition("""
            SELECT topic, received_at, order_id, payload FROM webhook_deliveries
            WHERE shop_domain = @shop AND (customer_id = @customerId OR order_id = ANY(@orderIds))
              AND topic NOT IN ('customers/data_request', 'customers/redact')
            ORDER BY id
            """, new { shop, customerId, orderIds }, tx, cancellationToken: ct));

        var webhookData = new JsonArray();
        foreach (var d in deliveries)
        {
            webhookData.Add(new JsonObject
            {
                ["topic"] = d.Topic,
                ["receivedAt"] = new DateTimeOffset(d.ReceivedAt, TimeSpan.Zero).ToString("O"),
                ["orderId"] = d.OrderId,
                ["payload"] = d.Payload is null ? null : JsonNode.Parse(d.Payload),
            });
        }

        var args = new { shop, customerId };
        return new JsonObject
        {
            ["shop"] = shop,
            ["customerId"] = customerId,
            ["generatedAt"] = DateTimeOffset.UtcNow.ToString("O"),
            ["explanation"] = "Points balance and every points movement, orders that earned points, feedback given, and the order " +
                              "notifications Shopify sent to the Loyalty app about this customer (kept for a limited period).",
            ["balance"] = await JsonAsync(conn, tx, """
                SELECT (to_jsonb(b) - 'shop_domain' - 'has_points')::text FROM point_balances b  -- has_points: the expiry's index key
                WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["pointsHistory"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(to_jsonb(t) - 'shop_domain' ORDER BY t.id), '[]')::text FROM point_transactions t
                WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["orders"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(to_jsonb(o) - 'shop_domain' ORDER BY o.created_at), '[]')::text FROM order_earnings o
                WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["feedback"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(to_jsonb(f) - 'shop_domain' ORDER BY f.id), '[]')::text FROM customer_feedback f
                WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["donations"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(to_jsonb(d) - 'shop_domain' ORDER BY d.created_at), '[]')::text FROM donations d
                WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["coupons"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(jsonb_build_object('code', c.code, 'points', c.points, 'amount', c.amount, 'state', c.state,
                    'couponStatus', c.coupon_status, 'createdAt', c.created_at, 'expiresAt', c.expires_at) ORDER BY c.created_at), '[]')::text
                FROM conversions c WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["couponRedemptions"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(to_jsonb(r) - 'shop_domain' ORDER BY r.created_at), '[]')::text FROM coupon_redemptions r
                WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["tier"] = await JsonAsync(conn, tx, """
                SELECT jsonb_build_object('tier', t.name, 'source', c.source, 'since', c.since, 'changes', coalesce((
                    SELECT jsonb_agg(jsonb_build_object('from', f.name, 'to', n.name, 'cause', h.cause, 'reason', h.reason, 'at', h.created_at)
                        ORDER BY h.id)
                    FROM tier_changes h LEFT JOIN tiers f ON f.id = h.from_tier_id LEFT JOIN tiers n ON n.id = h.to_tier_id
                    WHERE h.shop_domain = c.shop_domain AND h.customer_id = c.customer_id), '[]'))::text
                FROM customer_tiers c LEFT JOIN tiers t ON t.id = c.tier_id WHERE c.shop_domain = @shop AND c.customer_id = @customerId
                """, args, ct),
            ["flowTriggers"] = await JsonAsync(conn, tx, """
                SELECT coalesce(jsonb_agg(jsonb_build_object('trigger', f.handle, 'payload', f.payload, 'state', f.state,
                    'createdAt', f.created_at, 'deliveredAt', f.delivered_at) ORDER BY f.id), '[]')::text
                FROM flow_outbox f WHERE shop_domain = @shop AND customer_id = @customerId
                """, args, ct),
            ["webhookDeliveries"] = webhookData,
        };
    }

    private static async Task<JsonNode?> JsonAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string sql, object args, CancellationToken ct)
    {
        var json = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(sql, args, tx, cancellationToken: ct));
        return json is null ? null : JsonNode.Parse(json);
    }

    /// <summary>
    /// Erases the customer's personal data; returns how many rows of each kind were touched. The ledger is
    /// append-only except for this: the erasure switch is set for this transaction only. Order decisions are
    /// kept without the customer (so a late redelivery cannot award the order again).
    /// </summary>
    public static async Task<Dictionary<string, int>> EraseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customerId,
        long[] orderIds, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition("SET LOCAL loyalty.erasure = 'on'", transaction: tx, cancellationToken: ct));
        var args = new { shop, customerId };
        var summary = new Dictionary<string, int>
        {
            ["pointsBalanceErased"] = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT coalesce((SELECT balance FROM point_balances WHERE shop_domain = @shop AND customer_id = @customerId), 0)::int",
                args, tx, cancellationToken: ct)),
            ["pendingPointsErased"] = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT coalesce((SELECT pending FROM point_balances WHERE shop_domain = @shop AND customer_id = @customerId), 0)::int",
                args, tx, cancellationToken: ct)),
            ["ledgerRowsDeleted"] = await conn.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT count(*)::int FROM point_transactions WHERE shop_domain = @shop AND customer_id = @customerId", args, tx,
                cancellationToken: ct)),
            ["balancesDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM point_balances WHERE shop_domain = @shop AND customer_id = @customerId", args, tx, cancellationToken: ct)),
            ["feedbackDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM customer_feedback WHERE shop_domain = @shop AND customer_id = @customerId", args, tx, cancellationToken: ct)),
            // Pledges stay (the merchant owes them) but no longer say who gave.
            ["donationsAnonymised"] = await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE donations SET customer_id = NULL WHERE shop_domain = @shop AND customer_id = @customerId", args, tx, cancellationToken: ct)),
            ["redemptionsAnonymised"] = await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE coupon_redemptions SET customer_id = NULL WHERE shop_domain = @shop AND customer_id = @customerId", args, tx,
                cancellationToken: ct)),
            ["eventsDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM outgoing_events WHERE shop_domain = @shop AND payload -> 'data' ->> 'customerId' = @customerId::text",
                args, tx, cancellationToken: ct)),
            ["conversionsDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM conversions WHERE shop_domain = @shop AND customer_id = @customerId", args, tx, cancellationToken: ct)),
            ["ordersAnonymised"] = await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE order_earnings SET customer_id = NULL, order_name = NULL WHERE shop_domain = @shop AND customer_id = @customerId",
                args, tx, cancellationToken: ct)),
            ["webhookPayloadsCleared"] = await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE webhook_deliveries SET payload = NULL, payload_cleared_at = now(), customer_id = NULL
                WHERE shop_domain = @shop AND (customer_id = @customerId OR order_id = ANY(@orderIds))
                """, new { shop, customerId, orderIds }, tx, cancellationToken: ct)),
            ["tierRowsDeleted"] = await conn.ExecuteAsync(new CommandDefinition("""
                DELETE FROM customer_tiers WHERE shop_domain = @shop AND customer_id = @customerId;
                DELETE FROM tier_changes WHERE shop_domain = @shop AND customer_id = @customerId;
                DELETE FROM customer_tag_changes WHERE shop_domain = @shop AND customer_id = @customerId;
                """, args, tx, cancellationToken: ct)),
            ["flowTriggersDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM flow_outbox WHERE shop_domain = @shop AND customer_id = @customerId", args, tx, cancellationToken: ct)),
            ["expiryNoticesDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM expiry_notices WHERE shop_domain = @shop AND customer_id = @customerId", args, tx, cancellationToken: ct)),
            ["dataExportsDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM customer_data_exports WHERE shop_domain = @shop AND customer_id = @customerId",
                new { shop, customerId }, tx, cancellationToken: ct)),
        };
        return summary;
    }
}
