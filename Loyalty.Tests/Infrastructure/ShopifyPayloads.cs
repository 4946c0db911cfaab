using System.Globalization;

namespace Loyalty.Tests.Infrastructure;

/// <summary>Order and refund webhook bodies shaped like Shopify's (money as strings in MoneyBags, ids as numbers).</summary>
public static class ShopifyPayloads
{
    private static string M(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    private static object Bag(decimal shop, decimal? presentment = null, string currency = "EUR") => new
    {
        shop_money = new { amount = M(shop), currency_code = currency },
        presentment_money = new { amount = M(presentment ?? shop), currency_code = currency },
    };

    public static string Order(long id, long? customerId, decimal subtotal, decimal total, bool test = false, bool cancelled = false,
        string currency = "EUR", IEnumerable<string>? discountCodes = null, DateTimeOffset? processedAt = null,
        DateTimeOffset? createdAt = null, DateTimeOffset? updatedAt = null) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["id"] = id,
            ["admin_graphql_api_id"] = $"gid://shopify/Order/{id}",
            ["name"] = $"#{id % 100000}",
            ["email"] = "ana@example.com",
            ["currency"] = currency,
            ["financial_status"] = "paid",
            ["test"] = test,
            ["cancelled_at"] = cancelled ? "2026-11-23T10:00:00+01:00" : null,
            ["processed_at"] = processedAt?.ToString("yyyy-MM-ddTHH:mm:sszzz"),
            ["created_at"] = createdAt?.ToString("yyyy-MM-ddTHH:mm:sszzz"),
            ["updated_at"] = (updatedAt ?? DateTimeOffset.UtcNow).ToString("yyyy-MM-ddTHH:mm:sszzz"), // being paid updates the order
            ["subtotal_price"] = M(subtotal),
            ["total_price"] = M(total),
            ["subtotal_price_set"] = Bag(subtotal, currency: currency),
            ["total_price_set"] = Bag(total, currency: currency),
            ["total_shipping_price_set"] = Bag(total - subtotal, currency: currency),
            ["discount_codes"] = (discountCodes ?? []).Select(c => new { code = c, amount = "5.00", type = "fixed_amount" }).ToArray(),
            ["customer"] = customerId is null ? null : new { id = customerId, email = "ana@example.com", first_name = "Ana" },
            ["line_items"] = new[] { new { id = 1, price = M(subtotal), quantity = 1 } },
        });

    /// <summary>A refund with one successful refund transaction per amount (strings, as Shopify sends them).</summary>
    public static string Refund(long id, long orderId, params decimal[] amounts) =>
        JsonSerializer.Serialize(new
        {
            id,
            order_id = orderId,
            created_at = "2026-11-23T10:00:00+01:00",
            refund_line_items = new[] { new { id = 1, quantity = 1, subtotal = 1.0, total_tax = 0.0 } },
            transactions = amounts.Select((a, i) => new { id = id * 10 + i, order_id = orderId, kind = "refund", status = "success", amount = M(a),
                currency = "EUR" })
                .Append(new { id = id * 10 + 9, order_id = orderId, kind = "refund", status = "failure", amount = "999.00", currency = "EUR" })
                .ToArray(),
        });
}
