using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// Reads the REST-shaped order and refund webhook payloads. Money is parsed as decimal with the invariant
/// culture from strings or numbers (Shopify mixes both); shop-currency amounts come from the <c>*_set</c>
/// MoneyBags' <c>shop_money</c>, falling back to the plain fields (which are in shop currency too).
/// </summary>
public static class OrderPayloads
{
    public static OrderFacts Order(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var o = doc.RootElement;
        if (o.ValueKind != JsonValueKind.Object || !o.TryGetProperty("id", out var idElement) || Int64(idElement) is not { } id)
        {
            throw new PermanentWebhookFailureException("The order payload has no numeric id.");
        }
        long? customer = o.TryGetProperty("customer", out var c) && c.ValueKind == JsonValueKind.Object
                         && c.TryGetProperty("id", out var cid) ? Int64(cid) : null;
        var subtotal = ShopMoney(o, "subtotal_price_set", "subtotal_price");
        var total = ShopMoney(o, "total_price_set", "total_price");
        var currency = o.TryGetProperty("total_price_set", out var set) && set.TryGetProperty("shop_money", out var sm)
                       && sm.TryGetProperty("currency_code", out var cc) ? cc.GetString()
            : o.TryGetProperty("currency", out var cur) ? cur.GetString() : null;
        var presentment = o.TryGetProperty("total_price_set", out var tps) && tps.TryGetProperty("presentment_money", out var pm)
                          && pm.TryGetProperty("amount", out var pa) ? Money(pa) : total;

        return new OrderFacts(
            OrderId: id,
            Name: o.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() : null,
            CustomerId: customer,
            Test: o.TryGetProperty("test", out var t) && t.ValueKind == JsonValueKind.True,
            Cancelled: o.TryGetProperty("cancelled_at", out var ca) && ca.ValueKind == JsonValueKind.String,
            Subtotal: subtotal,
            Total: total,
            Currency: currency ?? "",
            PresentmentTotal: presentment,
            DiscountCodes: o.TryGetProperty("discount_codes", out var dc) && dc.ValueKind == JsonValueKind.Array
                ? dc.EnumerateArray().Where(d => d.ValueKind == JsonValueKind.Object && d.TryGetProperty("code", out var x)
                    && x.ValueKind == JsonValueKind.String)
                    .Select(d => new DiscountCodeUse(d.GetProperty("code").GetString()!,
                        d.TryGetProperty("amount", out var a) ? Money(a) : 0m)).ToList()
                : [],
            ProcessedAt: NotBefore(Time(o, "processed_at"), Time(o, "created_at")),
            UpdatedAt: Time(o, "updated_at"));
    }

    public sealed record RefundFacts(long RefundId, long OrderId, decimal Amount);

    /// <summary>The money a refund returned: its successful refund transactions (in the order's presentment currency).</summary>
    public static RefundFacts Refund(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("id", out var id) || Int64(id) is not { } refundId
            || !r.TryGetProperty("order_id", out var oid) || Int64(oid) is not { } orderId)
        {
            throw new PermanentWebhookFailureException("The refund payload has no numeric id or order_id.");
        }
        var amount = 0m;
        if (r.TryGetProperty("transactions", out var transactions) && transactions.ValueKind == JsonValueKind.Array)
        {
            foreach (var t in transactions.EnumerateArray())
            {
                if (t.TryGetProperty("kind", out var k) && k.GetString() == "refund" && t.TryGetProperty("status", out var s)
                    && s.GetString() == "success" && t.TryGetProperty("amount", out var a))
                {
                    amount += Money(a);
                }
            }
        }
        return new RefundFacts(refundId, orderId, amount);
    }

    /// <summary>
    /// When the order counts as processed for its earning rule: its <c>processed_at</c>, never before Shopify created it. An
    /// app or staff member may set <c>processed_at</c> to any past time (order imports do), which would otherwise pick the
    /// best rate the shop ever had; <c>created_at</c> is Shopify's own.
    /// </summary>
    public static DateTimeOffset? NotBefore(DateTimeOffset? processedAt, DateTimeOffset? createdAt) =>
        processedAt is { } p && createdAt is { } c ? (p > c ? p : c) : processedAt ?? createdAt;

    /// <summary>
    /// When the order was paid, from <paramref name="reported"/> (the <c>orders/paid</c> delivery's trigger time, or the order's last
    /// successful payment transaction): a pay-later order is paid days after it was processed. The trigger time is a header the
    /// HMAC does not cover, so it only chooses within what the signed order says: never before the order counts as processed
    /// (<see cref="NotBefore"/>), never after it was last updated (being paid updates it) nor after <paramref name="now"/>. Null
    /// when nothing reported it or the order names no such times (the processed time stands).
    /// </summary>
    public static DateTimeOffset? PaidAt(DateTimeOffset? reported, DateTimeOffset? processedAt, DateTimeOffset? updatedAt, DateTimeOffset now)
    {
        if (reported is not { } paid || processedAt is not { } earliest || updatedAt is not { } updated) return null;
        var latest = updated < now ? updated : now;
        return paid > latest ? (latest > earliest ? latest : earliest) : paid < earliest ? earliest : paid;
    }

    private static DateTimeOffset? Time(JsonElement o, string name) =>
        o.TryGetProperty(name, out var t) && t.ValueKind == JsonValueKind.String
        && DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var at) ? at : null;

    /// <summary>A JSON number that fits a long; TryGetInt64 itself throws on strings.</summary>
    private static long? Int64(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) ? v : null;

    private static decimal ShopMoney(JsonElement order, string setName, string plainName)
    {
        if (order.TryGetProperty(setName, out var set) && set.TryGetProperty("shop_money", out var money)
            && money.TryGetProperty("amount", out var amount))
        {
            return Money(amount);
        }
        return order.TryGetProperty(plainName, out var plain) ? Money(plain) : 0m;
    }

    public static decimal Money(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => decimal.Parse(value.GetString()!, NumberStyles.Number, CultureInfo.InvariantCulture),
        JsonValueKind.Number => value.GetDecimal(),
        JsonValueKind.Null => 0m,
        _ => throw new FormatException($"Not a money amount: {value.GetRawText()}"),
    };
}
