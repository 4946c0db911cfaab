using System.Text.Json.Nodes;
using Dapper;
using Npgsql;

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

        return new JsonObject
        {
            ["shop"] = shop,
            ["customerId"] = customerId,
            ["generatedAt"] = DateTimeOffset.UtcNow.ToString("O"),
            ["explanation"] = "Order and refund notifications Shopify sent to the Loyalty app about this customer, as received. " +
                              "Payloads are kept at most the configured retention period after processing.",
            ["webhookDeliveries"] = webhookData,
        };
    }

    /// <summary>Erases the customer's personal data; returns how many rows of each kind were touched.</summary>
    public static async Task<Dictionary<string, int>> EraseAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customerId,
        long[] orderIds, CancellationToken ct)
    {
        var summary = new Dictionary<string, int>
        {
            ["webhookPayloadsCleared"] = await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE webhook_deliveries SET payload = NULL, payload_cleared_at = now(), customer_id = NULL
                WHERE shop_domain = @shop AND (customer_id = @customerId OR order_id = ANY(@orderIds))
                """, new { shop, customerId, orderIds }, tx, cancellationToken: ct)),
            ["dataExportsDeleted"] = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM customer_data_exports WHERE shop_domain = @shop AND customer_id = @customerId",
                new { shop, customerId }, tx, cancellationToken: ct)),
        };
        return summary;
    }
}
