namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>GET /api/admin/coupons/{code}/redemptions[?format=csv]</c>: one code's usage history, which orders used it, when, by
/// whom and for how much, as recorded from <c>orders/paid</c> and the missed-order sweep; with what the code is (a campaign's,
/// or a customer's loyalty coupon). Codes compare case-insensitively, as Shopify's do.
/// </summary>
public static class CodeUsage
{
    public sealed record Redemption(long OrderId, long? CustomerId, decimal DiscountAmount, decimal OrderAmount, DateTimeOffset RedeemedAt);

    /// <param name="CampaignId">The campaign the code belongs to; or <paramref name="ConversionId"/>, the loyalty coupon it is.</param>
    /// <param name="OwnerCustomerId">For a loyalty coupon: the customer who turned points into it.</param>
    public sealed record History(string Code, long? CampaignId, string? CampaignTitle, string? ConversionId, long? OwnerCustomerId, long Uses,
        decimal DiscountGiven, decimal Revenue, IReadOnlyList<Redemption> Redemptions);

    public static RouteGroupBuilder MapCodeUsage(this RouteGroupBuilder admin)
    {
        admin.MapGet("/coupons/{code}/redemptions", GetAsync);
        return admin;
    }

    private static async Task<Results<Ok<History>, FileContentHttpResult, ProblemHttpResult>> GetAsync(HttpContext http, string code, string? format,
        NpgsqlDataSource db, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(code) || code.Length > 255 || code.Contains('\0'))
        {
            return Problems.Validation("invalid_code", "A code is 1-255 characters.");
        }
        if (format is not (null or "json" or "csv")) return Problems.Validation("invalid_format", "format is json or csv.");
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        var owner = await conn.QuerySingleOrDefaultAsync<(string Code, long? CampaignId, string? Title, string? ConversionId, long? Customer)?>(
            new CommandDefinition("""
                SELECT k.code, k.campaign_id, c.title, NULL::text, NULL::bigint FROM campaign_codes k JOIN campaigns c ON c.id = k.campaign_id
                WHERE k.shop_domain = @shop AND upper(k.code) = upper(@code) AND k.state <> @released
                UNION ALL
                SELECT v.code, NULL, NULL, v.id, v.customer_id FROM conversions v WHERE v.shop_domain = @shop AND upper(v.code) = upper(@code)
                LIMIT 1
                """, new { shop, code, released = CodeState.Released }, cancellationToken: ct));
        if (owner is not { } o) return Problems.NotFound("coupon_not_found", "This app made no code like that in this shop.");

        var redemptions = (await conn.QueryAsync<Redemption>(new CommandDefinition("""
            SELECT order_id, customer_id, discount_amount, order_amount, created_at AS redeemed_at FROM coupon_redemptions
            WHERE shop_domain = @shop AND upper(code) = upper(@code) ORDER BY created_at DESC, id DESC
            """, new { shop, code }, cancellationToken: ct))).ToList();
        var history = new History(o.Code, o.CampaignId, o.Title, o.ConversionId, o.Customer, redemptions.Count,
            redemptions.Sum(r => r.DiscountAmount), redemptions.Sum(r => r.OrderAmount), redemptions);
        if (format != "csv") return TypedResults.Ok(history);

        var csv = new StringBuilder("code,order_id,customer_id,discount_amount,order_amount,redeemed_at\n");
        foreach (var r in redemptions)
        {
            csv.Append(CultureInfo.InvariantCulture,
                $"{CsvText.Field(o.Code)},{r.OrderId},{r.CustomerId},{r.DiscountAmount:0.00},{r.OrderAmount:0.00},"
                + $"{r.RedeemedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\n");
        }
        return TypedResults.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv", "code-redemptions.csv");
    }
}
