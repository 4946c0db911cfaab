using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Npgsql;

namespace Loyalty.Bench;

/// <summary>
/// The award's floor (<c>webhooks-compare --floor</c>), in the floor server's process: <c>POST /webhooks</c> checks the HMAC, and
/// deliveries arriving together are stored and awarded by one statement and one commit, each answered once that commit is
/// durable: the delivery kept once per webhook id (a redelivery is acknowledged and dropped), floor(total × 1) awarded once per
/// order, added to the customer's balance. The Node peer's work per delivery, group-committed, and nothing more: no inbox to
/// claim and mark, no lanes, no ledger checks, no settings, tiers or pending points. What it reaches says how far a design
/// that awards in the intake's own transaction can go on this machine.
/// </summary>
public static class WebhookFloor
{
    private sealed record Pending(string WebhookId, string Shop, string Payload, long? Order, long? Customer, long Points,
        TaskCompletionSource Stored);

    public static void Map(WebApplication app, string connectionString, string secret)
    {
        var db = NpgsqlDataSource.Create(connectionString);
        var key = System.Text.Encoding.UTF8.GetBytes(secret);
        var queue = Channel.CreateUnbounded<Pending>();
        using (var create = db.CreateCommand("""
            CREATE TABLE IF NOT EXISTS floor_deliveries (webhook_id text PRIMARY KEY, shop text NOT NULL, payload text NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE IF NOT EXISTS floor_awards (shop text NOT NULL, order_id bigint NOT NULL, customer_id bigint NOT NULL,
                points bigint NOT NULL, awarded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (shop, order_id));
            CREATE TABLE IF NOT EXISTS floor_balances (shop text NOT NULL, customer_id bigint NOT NULL, balance bigint NOT NULL,
                PRIMARY KEY (shop, customer_id));
            """))
        {
            create.ExecuteNonQuery();
        }
        for (var writer = 0; writer < 2; writer++) _ = Task.Run(() => WriteAsync(db, queue.Reader));

        app.MapPost("/webhooks", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            var bytes = body.ToArray();
            if (!Verified(key, bytes, http.Request.Headers["X-Shopify-Hmac-Sha256"].ToString()))
            {
                return Results.StatusCode(StatusCodes.Status401Unauthorized);
            }
            if (Read(bytes, http.Request.Headers["X-Shopify-Topic"] == "orders/paid") is not (var orderId, var customer, var points))
            {
                return Results.BadRequest(); // not an order this floor can read: a 400, not a 500
            }
            var pending = new Pending(http.Request.Headers["X-Shopify-Webhook-Id"].ToString(),
                http.Request.Headers["X-Shopify-Shop-Domain"].ToString(), System.Text.Encoding.UTF8.GetString(bytes), orderId, customer, points,
                new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            await queue.Writer.WriteAsync(pending, http.RequestAborted);
            await pending.Stored.Task;
            return Results.Ok();
        });
    }

    /// <summary>Whether <paramref name="signature"/> is the body's HMAC-SHA256 under <paramref name="key"/>, as Shopify signs a webhook.</summary>
    internal static bool Verified(byte[] key, byte[] body, string signature) =>
        CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(Convert.ToBase64String(HMACSHA256.HashData(key, body))),
            System.Text.Encoding.ASCII.GetBytes(signature));

    /// <summary>The order, its customer and floor(total × 1) points; null when the body is not such an order (malformed JSON, no id).</summary>
    private static (long? Order, long? Customer, long Points)? Read(byte[] body, bool paid)
    {
        try
        {
            using var order = JsonDocument.Parse(body);
            var root = order.RootElement;
            var customer = root.TryGetProperty("customer", out var c) && c.ValueKind == JsonValueKind.Object ? c.GetProperty("id").GetInt64()
                : (long?)null;
            var points = (long)Math.Floor(decimal.Parse(root.GetProperty("total_price").GetString()!, CultureInfo.InvariantCulture));
            return (paid ? root.GetProperty("id").GetInt64() : null, customer, points);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException
                                       or ArgumentNullException)
        {
            return null;
        }
    }

    /// <summary>Everything queued when the writer is free, in one statement and one commit; each request answered after it.</summary>
    private static async Task WriteAsync(NpgsqlDataSource db, ChannelReader<Pending> queue)
    {
        var group = new List<Pending>();
        while (await queue.WaitToReadAsync())
        {
            // As the app's intake: two writers, at most 200 rows a statement, rows in webhook id order (and awards and balances in key
            // order below) so the two writers take their locks in the same order.
            while (group.Count < 200 && queue.TryRead(out var next)) group.Add(next);
            group.Sort((a, b) => string.CompareOrdinal(a.WebhookId, b.WebhookId));
            try
            {
                await using var command = db.CreateCommand("""
                    WITH stored AS (
                        INSERT INTO floor_deliveries (webhook_id, shop, payload)
                        SELECT * FROM unnest(@ids, @shops, @payloads) ON CONFLICT DO NOTHING RETURNING webhook_id),
                    awarded AS (
                        INSERT INTO floor_awards (shop, order_id, customer_id, points)
                        SELECT d.shop, d.order_id, d.customer_id, d.points
                        FROM unnest(@ids, @shops, @orders, @customers, @points) AS d(webhook_id, shop, order_id, customer_id, points)
                        JOIN stored USING (webhook_id)
                        WHERE d.order_id IS NOT NULL AND d.customer_id IS NOT NULL AND d.points > 0
                        ORDER BY d.shop, d.order_id
                        ON CONFLICT DO NOTHING RETURNING shop, customer_id, points)
                    INSERT INTO floor_balances (shop, customer_id, balance)
                    SELECT shop, customer_id, sum(points) FROM awarded GROUP BY shop, customer_id ORDER BY shop, customer_id
                    ON CONFLICT (shop, customer_id) DO UPDATE SET balance = floor_balances.balance + EXCLUDED.balance
                    """);
                command.Parameters.AddWithValue("ids", group.Select(p => p.WebhookId).ToArray());
                command.Parameters.AddWithValue("shops", group.Select(p => p.Shop).ToArray());
                command.Parameters.AddWithValue("payloads", group.Select(p => p.Payload).ToArray());
                command.Parameters.AddWithValue("orders", group.Select(p => p.Order).ToArray());
                command.Parameters.AddWithValue("customers", group.Select(p => p.Customer).ToArray());
                command.Parameters.AddWithValue("points", group.Select(p => p.Points).ToArray());
                await command.ExecuteNonQueryAsync();
                foreach (var p in group) p.Stored.TrySetResult();
            }
            catch (Exception e)
            {
                foreach (var p in group) p.Stored.TrySetException(e);
            }
            group.Clear();
        }
    }
}
