namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>GET /api/admin/coupons/{code}/redemptions[?format=csv]</c>: one code's usage history, which orders used it, when, by
/// whom and for how much, as recorded from <c>orders/paid</c> and the missed-order sweep; with what the code is (a campaign's,
/// or a customer's loyalty coupon). The totals count every use; the uses come a page at a time, newest first (<c>limit</c>,
/// and <c>before</c> = the previous page's <c>nextBefore</c>); the CSV streams them all. Codes compare case-insensitively, as
/// Shopify's do.
/// </summary>
public static class CodeUsage
{
    /// <param name="Id">The use's id: <c>before</c> pages by it.</param>
    /// <param name="AmountEstimated">The missed-order sweep recorded it and no webhook has told the exact amount yet.</param>
    public sealed record Redemption(long Id, long OrderId, long? CustomerId, decimal DiscountAmount, bool AmountEstimated, decimal OrderAmount,
        DateTimeOffset RedeemedAt);

    /// <param name="CampaignId">The campaign the code belongs to; or <paramref name="ConversionId"/>, the loyalty coupon it is.</param>
    /// <param name="OwnerCustomerId">For a loyalty coupon: the customer who turned points into it.</param>
    /// <param name="NextBefore">Pass as <c>before</c> for the next page of uses; null on the last page.</param>
    public sealed record History(string Code, long? CampaignId, string? CampaignTitle, string? ConversionId, long? OwnerCustomerId, long Uses,
        decimal DiscountGiven, decimal Revenue, IReadOnlyList<Redemption> Redemptions, long? NextBefore);

    private sealed record Owner(string Code, long? CampaignId, string? Title, string? ConversionId, long? Customer);

    private sealed record Totals(long Uses, decimal DiscountGiven, decimal Revenue);

    /// <summary>Uses an export reads per query; no connection is held while the client reads what was written.</summary>
    private const int ExportPage = 1000;

    private const string Uses = """
        SELECT id, order_id, customer_id, discount_amount, amount_estimated, order_amount, created_at AS redeemed_at FROM coupon_redemptions
        WHERE shop_domain = @shop AND upper(code) = upper(@code) AND (@before::bigint IS NULL OR id < @before)
        ORDER BY id DESC LIMIT @take
        """;

    public static RouteGroupBuilder MapCodeUsage(this RouteGroupBuilder admin)
    {
        admin.MapGet("/coupons/{code}/redemptions", GetAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "coupon_not_found")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_code", "invalid_format", "invalid_filter");
        return admin;
    }

    private static async Task<Results<Ok<History>, PushStreamHttpResult, ProblemHttpResult>> GetAsync(HttpContext http, string code,
        string? format, long? before, int? limit, NpgsqlDataSource db, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(code) || code.Length > 255 || code.Contains('\0'))
        {
            return Problems.Validation("invalid_code", "A code is 1-255 characters.");
        }
        if (format is not (null or "json" or "csv")) return Problems.Validation("invalid_format", "format is json or csv.");
        var errors = new Dictionary<string, string[]>();
        if (before is <= 0) errors["before"] = ["Must be a positive id (nextBefore of the previous page)."];
        if (limit is < 1 or > 500) errors["limit"] = ["Must be 1-500."];
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_filter", "The request is not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }
        var shop = http.User.Shop();
        Owner? owner;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            owner = await conn.QuerySingleOrDefaultAsync<Owner>(new CommandDefinition("""
                SELECT k.code, k.campaign_id, c.title, NULL::text AS conversion_id, NULL::bigint AS customer
                FROM campaign_codes k JOIN campaigns c ON c.id = k.campaign_id
                WHERE k.shop_domain = @shop AND upper(k.code) = upper(@code) AND k.state <> @released
                UNION ALL
                SELECT v.code, NULL, NULL, v.id, v.customer_id FROM conversions v WHERE v.shop_domain = @shop AND upper(v.code) = upper(@code)
                LIMIT 1
                """, new { shop, code, released = CodeState.Released }, cancellationToken: ct));
            if (owner is null) return Problems.NotFound("coupon_not_found", "This app made no code like that in this shop.");
            if (format != "csv")
            {
                var totals = await conn.QuerySingleAsync<Totals>(new CommandDefinition("""
                    SELECT count(*) AS uses, coalesce(sum(discount_amount), 0) AS discount_given, coalesce(sum(order_amount), 0) AS revenue
                    FROM coupon_redemptions WHERE shop_domain = @shop AND upper(code) = upper(@code)
                    """, new { shop, code }, cancellationToken: ct));
                var take = limit ?? 50;
                var page = (await conn.QueryAsync<Redemption>(new CommandDefinition(Uses, new { shop, code, before, take },
                    cancellationToken: ct))).ToList();
                return TypedResults.Ok(new History(owner.Code, owner.CampaignId, owner.Title, owner.ConversionId, owner.Customer, totals.Uses,
                    totals.DiscountGiven, totals.Revenue, page, page.Count == take ? page[^1].Id : null));
            }
        }
        return TypedResults.Stream(stream => WriteCsvAsync(stream, db, shop, owner.Code, http.RequestAborted), "text/csv",
            "code-redemptions.csv");
    }

    /// <summary>Every use, newest first, a page per query on a connection that goes back to the pool before the page is written.</summary>
    private static async Task WriteCsvAsync(Stream stream, NpgsqlDataSource db, string shop, string code, CancellationToken ct)
    {
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false));
        await writer.WriteAsync("code,order_id,customer_id,discount_amount,amount_estimated,order_amount,redeemed_at\n");
        long? before = null;
        while (true)
        {
            List<Redemption> page;
            await using (var conn = await db.OpenConnectionAsync(ct))
            {
                page = [.. await conn.QueryAsync<Redemption>(new CommandDefinition(Uses, new { shop, code, before, take = ExportPage },
                    cancellationToken: ct))];
            }
            foreach (var r in page)
            {
                await writer.WriteAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{CsvText.Field(code)},{r.OrderId},{r.CustomerId},{r.DiscountAmount:0.00},{(r.AmountEstimated ? "true" : "false")},"
                    + $"{r.OrderAmount:0.00},{r.RedeemedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}\n"));
            }
            if (page.Count < ExportPage) return;
            before = page[^1].Id;
        }
    }
}
