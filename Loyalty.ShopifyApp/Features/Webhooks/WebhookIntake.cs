using System.Buffers;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// <c>POST /webhooks</c>, every topic. Verify the HMAC over the raw bytes before anything is parsed, store
/// the delivery durably (unique on X-Shopify-Webhook-Id; concurrent deliveries share one INSERT, <see cref="WebhookInbox"/>),
/// answer 200. Processing happens afterwards, in
/// <see cref="WebhookProcessor"/>, so the answer stays well inside Shopify's 5 seconds and nothing is lost
/// if this process dies right after answering.
/// </summary>
public static partial class WebhookIntake
{
    public static IEndpointRouteBuilder MapWebhookIntake(this IEndpointRouteBuilder app)
    {
        app.MapPost("/webhooks", ReceiveAsync)
            .ProblemCodes(StatusCodes.Status400BadRequest, "invalid_webhook_headers", "invalid_payload")
            .ProblemCodes(StatusCodes.Status401Unauthorized, "invalid_webhook_hmac")
            .ProblemCodes(StatusCodes.Status413PayloadTooLarge, "payload_too_large")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "shop_mismatch")
            .ProblemCodes(StatusCodes.Status503ServiceUnavailable, "webhook_intake_busy");
        return app;
    }

    private static async Task<Results<Ok, ProblemHttpResult>> ReceiveAsync(
        HttpContext http, NpgsqlDataSource db, WebhookInbox inbox, IEnumerable<IWebhookHandler> handlers, WebhookSignal signal,
        InstalledShops installed, IOptions<ShopifyOptions> shopify, IOptions<WebhookOptions> options, ILoggerFactory loggers, CancellationToken ct)
    {
        var log = loggers.CreateLogger(typeof(WebhookIntake));
        var max = options.Value.MaxBodyBytes;
        if (http.Request.ContentLength > max)
        {
            return Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", $"Webhook bodies are limited to {max} bytes.");
        }
        var body = await ReadBodyAsync(http.Request, max, ct);
        if (body is null)
        {
            return Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", $"Webhook bodies are limited to {max} bytes.");
        }

        var headers = http.Request.Headers;
        if (!ShopifySignatures.IsValidWebhook(body, headers["X-Shopify-Hmac-Sha256"], shopify.Value.Secrets()))
        {
            LogRejected(log, headers["X-Shopify-Topic"].ToString(), "HMAC missing or wrong");
            return Problems.Unauthorized("invalid_webhook_hmac", "The webhook's HMAC does not match.");
        }

        // Past this point the request is Shopify's own; a malformed header is answered 400 without effect.
        var topic = headers["X-Shopify-Topic"].ToString();
        var webhookId = headers["X-Shopify-Webhook-Id"].ToString();
        if (topic.Length is 0 or > 100 || webhookId.Length is 0 or > 200 || !ShopDomain.TryNormalize(headers["X-Shopify-Shop-Domain"], out var shop))
        {
            return Problems.BadRequest("invalid_webhook_headers", "X-Shopify-Topic, X-Shopify-Webhook-Id and X-Shopify-Shop-Domain are required.");
        }
        using var scope = log.BeginShopScope(shop);

        // JSON is UTF-8 text without raw NUL bytes; anything else cannot be a Shopify payload (nor stored as text).
        if (!System.Text.Unicode.Utf8.IsValid(body) || body.AsSpan().Contains((byte)0))
        {
            LogRejected(log, topic, "body is not UTF-8 text");
            return Problems.BadRequest("invalid_payload", "The webhook body is not UTF-8 JSON.");
        }

        var handler = handlers.FirstOrDefault(h => h.Topic == topic);
        if (handler is null)
        {
            LogIgnored(log, topic, shop, webhookId, "no handler for this topic");
            return TypedResults.Ok();
        }

        // Signed by Shopify but not for this shop (a body replayed under another shop's header): refused before any
        // row is written. 422 rather than 2xx so the refusal shows in Shopify's delivery log; Shopify stops after its
        // 8 retries, and a genuine delivery always names its own shop.
        if (handler.PayloadShopField is { } field && !WebhookPayloadShop.Names(body, field, shop, out var named))
        {
            LogShopMismatch(log, topic, shop, webhookId, field, named ?? "nothing");
            return Problems.Create(StatusCodes.Status422UnprocessableEntity, "shop_mismatch",
                $"The payload's {field} is not the shop in X-Shopify-Shop-Domain.");
        }

        if (!installed.IsKnownInstalled(shop))
        {
            var askedAt = installed.Version;
            string? state;
            await using (var conn = await db.OpenConnectionAsync(ct)) // the inbox writes with its own connection
            {
                state = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                    "SELECT state FROM shops WHERE shop_domain = @shop", new { shop }, cancellationToken: ct));
            }
            if (state is null || (state != "installed" && !handler.RunsForUninstalledShops))
            {
                LogIgnored(log, topic, shop, webhookId, state is null ? "unknown shop" : "shop not installed");
                return TypedResults.Ok();
            }
            if (state == "installed") installed.Remember(shop, askedAt);
        }

        var (customerId, orderId) = PayloadKeys(topic, body);
        long? id;
        try
        {
            id = await inbox.StoreAsync(new IncomingDelivery(webhookId, shop, topic, NullIfEmpty(headers["X-Shopify-Event-Id"]),
                DateTimeOffset.TryParse(headers["X-Shopify-Triggered-At"], CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null,
                NullIfEmpty(headers["X-Shopify-API-Version"]), Encoding.UTF8.GetString(body), customerId, orderId), ct);
        }
        catch (WebhookInboxFullException full)
        {
            // Not acknowledged, so Shopify delivers it again (with back-off); nothing is lost and memory stays bounded.
            LogInboxFull(log, topic, shop, webhookId, full.Message);
            http.Response.Headers.RetryAfter = "5";
            return Problems.Unavailable("webhook_intake_busy", "Too many webhook deliveries are waiting to be stored; send it again shortly.");
        }

        if (id is null)
        {
            LogDuplicate(log, topic, shop, webhookId);
        }
        else
        {
            LogStored(log, topic, shop, webhookId, id.Value);
            signal.Notify();
        }
        return TypedResults.Ok();
    }

    /// <summary>Reads at most <paramref name="max"/> bytes; null when the body is larger.</summary>
    internal static async Task<byte[]?> ReadBodyAsync(HttpRequest request, int max, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > max) return null;
                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    /// <summary>The customer and order a delivery is about, kept beside it so compliance requests can find it.</summary>
    private static (long? CustomerId, long? OrderId) PayloadKeys(string topic, byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return (null, null);
            long? customer = root.TryGetProperty("customer", out var c) && c.ValueKind == JsonValueKind.Object
                             && c.TryGetProperty("id", out var cid) ? Int64(cid) : null;
            long? order = topic.StartsWith("orders/", StringComparison.Ordinal) && root.TryGetProperty("id", out var oid) ? Int64(oid)
                : root.TryGetProperty("order_id", out var rid) ? Int64(rid) : null;
            return (customer, order);
        }
        catch (JsonException)
        {
            return (null, null); // the handler will park it with a clear reason
        }
    }

    /// <summary>A JSON number that fits a long; TryGetInt64 itself throws on strings.</summary>
    private static long? Int64(JsonElement e) => e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var v) ? v : null;

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues v) => v.Count == 0 || v[0] is null or "" ? null : v[0];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused webhook {Topic}: {Reason}")]
    private static partial void LogRejected(ILogger logger, string topic, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused webhook {Topic} for {Shop} ({WebhookId}): its payload's {Field} names {Named}")]
    private static partial void LogShopMismatch(ILogger logger, string topic, string shop, string webhookId, string field, string named);

    [LoggerMessage(Level = LogLevel.Information, Message = "Acknowledged webhook {Topic} for {Shop} ({WebhookId}) without storing it: {Reason}")]
    private static partial void LogIgnored(ILogger logger, string topic, string shop, string webhookId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Duplicate webhook {Topic} for {Shop} ({WebhookId}) acknowledged; already stored")]
    private static partial void LogDuplicate(ILogger logger, string topic, string shop, string webhookId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {Topic} for {Shop} ({WebhookId}) answered 503 for Shopify to send again: {Reason}")]
    private static partial void LogInboxFull(ILogger logger, string topic, string shop, string webhookId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Stored webhook {Topic} for {Shop} ({WebhookId}) as delivery {DeliveryId}")]
    private static partial void LogStored(ILogger logger, string topic, string shop, string webhookId, long deliveryId);
}
