namespace Loyalty.ShopifyApp.Features.Flow;

/// <summary>
/// A Shopify Flow trigger the app declares as an extension (<c>extensions/{Handle}/shopify.extension.toml</c>): its handle, and
/// its title, which Shopify's lifecycle callback may name it by.
/// </summary>
public sealed record FlowTrigger(string Handle, string Title)
{
    public static readonly FlowTrigger PointsEarned = new("loyalty-points-earned", "Loyalty points earned");
    public static readonly FlowTrigger PointsExpiring = new("loyalty-points-expiring", "Loyalty points expiring soon");
    public static readonly FlowTrigger CouponIssued = new("loyalty-coupon-issued", "Loyalty coupon issued");
    public static readonly FlowTrigger TierChanged = new("loyalty-tier-changed", "Loyalty tier changed");

    public static readonly IReadOnlyList<FlowTrigger> All = [PointsEarned, PointsExpiring, CouponIssued, TierChanged];
}

/// <summary>
/// Queues a Flow trigger in the transaction of the fact it reports, so it is sent exactly when the fact happened, once per fact
/// (<c>dedupeKey</c>), and only for a shop where a merchant turned on a workflow using it (<c>flow_trigger_usage</c>, kept by
/// <see cref="FlowLifecycle"/>). <see cref="FlowDelivery"/> sends it.
/// </summary>
public static class FlowTriggers
{
    /// <summary>
    /// Queues <paramref name="trigger"/> about <paramref name="customerId"/> with <paramref name="fields"/> (keys as its extension
    /// declares them); false when the shop uses no workflow with it, or this fact was queued already.
    /// </summary>
    public static async Task<bool> QueueAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, FlowTrigger trigger, string dedupeKey,
        long customerId, IReadOnlyDictionary<string, object> fields, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn, tx) { BatchCommands = { QueueCommand(shop, trigger, dedupeKey, customerId, fields) } };
        return await batch.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary><see cref="QueueAsync"/> as a statement for a batch that sends it with others, in one round trip.</summary>
    public static NpgsqlBatchCommand QueueCommand(string shop, FlowTrigger trigger, string dedupeKey, long customerId,
        IReadOnlyDictionary<string, object> fields)
    {
        // A customer_reference field is sent as customer_id, the customer's numeric id.
        var payload = JsonSerializer.Serialize(new Dictionary<string, object>(fields) { ["customer_id"] = customerId });
        return new NpgsqlBatchCommand("""
            INSERT INTO flow_outbox (shop_domain, handle, dedupe_key, customer_id, payload)
            SELECT @shop, @handle, @dedupeKey, @customerId, @payload::jsonb
            WHERE EXISTS (SELECT 1 FROM flow_trigger_usage u WHERE u.shop_domain = @shop AND u.trigger IN (@handle, @title) AND u.enabled)
            ON CONFLICT (shop_domain, handle, dedupe_key) DO NOTHING
            """)
        {
            Parameters =
            {
                new("shop", shop), new("handle", trigger.Handle), new("title", trigger.Title), new("dedupeKey", dedupeKey),
                new("customerId", customerId), new("payload", payload),
            },
        };
    }

    /// <summary>An ISO 8601 instant as the triggers carry dates (Flow refuses date fields on triggers).</summary>
    public static string Instant(DateTimeOffset? at) =>
        at?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) ?? "";
}
