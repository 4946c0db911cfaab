using System.Text.Json.Nodes;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// The customer's <c>loyalty.coupons</c> metafield, where the storefront lists the customer's coupons: read with its
/// digest, and written only if nobody changed it since (compareDigest). Beside the discounts because the saga reaches
/// Shopify through one typed client.
/// </summary>
public sealed partial class ShopifyDiscounts
{
    public sealed record Metafield(JsonArray Items, string? CompareDigest);

    /// <summary>The customer's <c>loyalty.coupons</c> JSON list and its digest (null digest: no metafield yet).</summary>
    public async Task<Metafield> ReadCouponsAsync(string shop, long customerId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await graphql.QueryAsync(shop, """
            query LoyaltyCoupons($id: ID!) {
              customer(id: $id) { metafield(namespace: "loyalty", key: "coupons") { value compareDigest } }
            }
            """, new { id = $"gid://shopify/Customer/{customerId}" }, maxThrottleWait, ct);
        if (!data.TryGetProperty("customer", out var customer) || customer.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            throw new ShopifyUserErrorException("customer", [("NOT_FOUND", $"customer {customerId} does not exist")]);
        }
        if (Read<CustomerCoupons>(customer).Metafield is not { } m) return new Metafield([], null);
        var items = JsonNode.Parse(m.Value ?? "[]") as JsonArray ?? [];
        return new Metafield(items, m.CompareDigest);
    }

    /// <summary>
    /// Writes the list if nobody changed it since <paramref name="compareDigest"/> (STALE_OBJECT otherwise).
    /// <paramref name="beforeSend"/> runs before each send (the caller records that a write may be under way).
    /// </summary>
    public async Task WriteCouponsAsync(string shop, long customerId, JsonArray items, string? compareDigest,
        Func<CancellationToken, Task> beforeSend, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await graphql.MutateAsync(shop, """
            mutation SetLoyaltyCoupons($metafields: [MetafieldsSetInput!]!) {
              metafieldsSet(metafields: $metafields) { metafields { id } userErrors { field message code } }
            }
            """, new
        {
            metafields = new[]
            {
                new
                {
                    ownerId = $"gid://shopify/Customer/{customerId}", @namespace = "loyalty", key = "coupons", type = "json",
                    value = items.ToJsonString(), compareDigest,
                },
            },
        }, maxThrottleWait, beforeSend, ct);
        ThrowOnUserErrors("metafieldsSet", Field(data, "metafieldsSet"));
    }

    private sealed record CustomerCoupons(CouponsValue? Metafield);

    private sealed record CouponsValue
    {
        public required string? Value { get; init; }
        public required string? CompareDigest { get; init; }
    }
}
