using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Loyalty.Sandbox;

/// <summary>
/// What Shopify sends to an app, built and signed the way Shopify does it, independently of the app's own
/// verification code: <c>orders/paid</c>-style webhooks (HMAC-SHA256 of the raw body, base64) and app proxy
/// requests (HMAC-SHA256 hex over the sorted query). Used by the sandbox's storefront emulator and order
/// button, the tests and the benchmarks.
/// </summary>
public static class ShopifyOutbound
{
    public const string ProxyPathPrefix = "/apps/loyalty";

    private static string M(decimal amount) => amount.ToString("0.00", CultureInfo.InvariantCulture);

    private static object Bag(decimal amount, string currency, Presentment? presentment = null, decimal share = 1m) => new
    {
        shop_money = new { amount = M(amount), currency_code = currency },
        presentment_money = presentment is { } p
            ? new { amount = M(decimal.Round(p.Total * share, 2)), currency_code = p.Currency }
            : new { amount = M(amount), currency_code = currency },
    };

    /// <summary>What the customer paid in the currency they checked out in, when it is not the shop's.</summary>
    public sealed record Presentment(decimal Total, string Currency);

    /// <summary>
    /// A paid order as the REST-shaped <c>orders/paid</c> payload carries it: amounts in the shop's currency, and in
    /// <paramref name="presentment"/>'s when the customer paid in another (its refunds' transactions are in that one).
    /// </summary>
    public static string PaidOrder(long id, long? customerId, decimal subtotal, decimal total, string currency = "EUR", bool cancelled = false,
        Presentment? presentment = null) =>
        JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["id"] = id,
            ["admin_graphql_api_id"] = $"gid://shopify/Order/{id}",
            ["name"] = $"#{id % 100000}",
            ["currency"] = currency,
            ["presentment_currency"] = presentment?.Currency ?? currency,
            ["financial_status"] = "paid",
            ["test"] = false,
            ["cancelled_at"] = cancelled ? DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture) : null,
            ["created_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture), // whole seconds, as Shopify's
            ["processed_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture), // whole seconds, as Shopify's
            ["updated_at"] = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:sszzz", CultureInfo.InvariantCulture),
            ["subtotal_price"] = M(subtotal),
            ["total_price"] = M(total),
            ["subtotal_price_set"] = Bag(subtotal, currency, presentment, total == 0 ? 1m : subtotal / total),
            ["total_price_set"] = Bag(total, currency, presentment),
            ["total_shipping_price_set"] = Bag(total - subtotal, currency, presentment, total == 0 ? 0m : (total - subtotal) / total),
            ["discount_codes"] = Array.Empty<object>(),
            ["customer"] = customerId is null ? null : new { id = customerId },
            ["line_items"] = new[] { new { id = 1, price = M(subtotal), quantity = 1 } },
        });

    /// <summary>A refund of <paramref name="amount"/> with one successful refund transaction.</summary>
    public static string Refund(long id, long orderId, decimal amount) =>
        JsonSerializer.Serialize(new
        {
            id,
            order_id = orderId,
            created_at = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            transactions = new[] { new { id = id * 10, kind = "refund", status = "success", amount = M(amount) } },
        });

    /// <summary>
    /// A webhook delivery as Shopify makes it: raw JSON body, topic, shop, ids, the body's HMAC, and when the event was triggered
    /// (<paramref name="triggeredAt"/>, now by default): Shopify keeps it when it delivers the same event again.
    /// </summary>
    public static HttpRequestMessage Webhook(Uri endpoint, string topic, string shop, string body, string secret, string? webhookId = null,
        DateTimeOffset? triggeredAt = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Shopify-Topic", topic);
        request.Headers.Add("X-Shopify-Shop-Domain", shop);
        request.Headers.Add("X-Shopify-Webhook-Id", webhookId ?? Guid.NewGuid().ToString());
        request.Headers.Add("X-Shopify-Event-Id", Guid.NewGuid().ToString());
        request.Headers.Add("X-Shopify-API-Version", "2026-10");
        request.Headers.Add("X-Shopify-Triggered-At", (triggeredAt ?? DateTimeOffset.UtcNow).ToString("O", CultureInfo.InvariantCulture));
        request.Headers.Add("X-Shopify-Hmac-Sha256", Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), bytes)));
        return request;
    }

    /// <summary>
    /// Shopify Flow's trigger lifecycle callback: a merchant turned on (or off) a workflow using the trigger
    /// <paramref name="triggerId"/> (its <c>flow_trigger_definition_id</c>) in <paramref name="shop"/>. JSON body, base64 HMAC-SHA256
    /// of it with the app's secret in X-Shopify-Hmac-SHA256, as webhooks.
    /// </summary>
    /// <param name="zoned">Write <paramref name="at"/> with its own offset rather than in UTC.</param>
    public static HttpRequestMessage FlowLifecycle(Uri endpoint, string shop, string triggerId, bool enabled, DateTimeOffset at, string secret,
        bool zoned = false)
    {
        var body = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["flow_trigger_definition_id"] = triggerId,
            ["has_enabled_flow"] = enabled,
            ["shop_id"] = 1000 + (uint)shop.GetHashCode(StringComparison.Ordinal) % 100_000,
            ["shopify_domain"] = shop,
            ["timestamp"] = zoned ? at.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture)
                : at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
        });
        var bytes = Encoding.UTF8.GetBytes(body);
        var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Shopify-Hmac-SHA256", Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), bytes)));
        return request;
    }

    /// <summary>
    /// The query Shopify's app proxy appends when it forwards a storefront request: the storefront's own query
    /// parameters plus shop, logged_in_customer_id, path_prefix and timestamp, signed over all of them sorted.
    /// </summary>
    public static string AppProxyQuery(string shop, long? customerId, string secret, IEnumerable<KeyValuePair<string,
        string>>? storefrontQuery = null,
        DateTimeOffset? now = null)
    {
        var query = (storefrontQuery
            ?? []).Where(p => p.Key is not ("shop" or "logged_in_customer_id" or "path_prefix" or "timestamp" or "signature"))
            .ToList();
        query.Add(new("shop", shop));
        query.Add(new("logged_in_customer_id", customerId?.ToString(CultureInfo.InvariantCulture) ?? ""));
        query.Add(new("path_prefix", ProxyPathPrefix));
        query.Add(new("timestamp", (now ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)));
        var message = string.Concat(query.GroupBy(p => p.Key)
            .Select(g => $"{g.Key}={string.Join(",", g.Select(p => p.Value))}")
            .OrderBy(s => s, StringComparer.Ordinal));
        var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(message)));
        query.Add(new("signature", signature));
        return string.Join("&", query.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));
    }

    /// <summary>An App Bridge-style session token (HS256 JWT) for <paramref name="shop"/>, as the embedded admin would get one.</summary>
    public static string SessionToken(string shop, string clientId, string secret, TimeSpan? lifetime = null)
    {
        static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = B64(JsonSerializer.SerializeToUtf8Bytes(new { alg = "HS256", typ = "JWT" }));
        var payload = B64(JsonSerializer.SerializeToUtf8Bytes(new
        {
            iss = $"https://{shop}/admin", dest = $"https://{shop}", aud = clientId, sub = "1",
            exp = now + (long)(lifetime ?? TimeSpan.FromMinutes(1)).TotalSeconds,
            nbf = now, iat = now, jti = Guid.NewGuid().ToString(), sid = "sandbox",
        }));
        var signature = B64(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{header}.{payload}")));
        return $"{header}.{payload}.{signature}";
    }
}
