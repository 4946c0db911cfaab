namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>GET /api/admin/reports/coupons?from&amp;to[&amp;format=csv]</c>: per campaign, and for loyalty coupons, the codes
/// issued, the codes redeemed in the period, the redemption rate, the discount given and the revenue of the
/// orders that used them. Issued counts campaign codes created in Shopify (all time) and loyalty coupons issued
/// in the period.
/// </summary>
public static class CouponReports
{
    public sealed record Row(string Source, long? CampaignId, string Title, long Issued, long Redeemed, long Redemptions, decimal RedemptionRate,
        decimal DiscountGiven, decimal Revenue);

    public static RouteGroupBuilder MapCouponReports(this RouteGroupBuilder admin)
    {
        admin.MapGet("/reports/coupons", ReportAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_period", "invalid_format");
        return admin;
    }

    private static async Task<Results<Ok<IReadOnlyList<Row>>, FileContentHttpResult,
    ProblemHttpResult>> ReportAsync(HttpContext http, NpgsqlDataSource db,
        DateTimeOffset? from, DateTimeOffset? to, string? format, TimeProvider clock, CancellationToken ct)
    {
        if (ReportPeriod.Resolve(from, to, clock.GetUtcNow(), out var since, out var until) is { } invalid) return invalid;
        if (format is not (null or "json" or "csv")) return Problems.Validation("invalid_format", "format is json or csv.");

        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<Row> rows = (await conn.QueryAsync<Row>(new CommandDefinition("""
            SELECT 'campaign' AS source, c.id AS campaign_id, c.title,
                   (SELECT count(*) FROM campaign_codes k WHERE k.campaign_id = c.id AND k.state = 'created') AS issued,
                   count(DISTINCT upper(r.code)) AS redeemed, count(r.id) AS redemptions, 0::numeric AS redemption_rate,
                   coalesce(sum(r.discount_amount), 0) AS discount_given, coalesce(sum(r.order_amount), 0) AS revenue
            FROM campaigns c
            LEFT JOIN coupon_redemptions r ON r.campaign_id = c.id AND r.created_at >= @since AND r.created_at < @until
            WHERE c.shop_domain = @shop
            GROUP BY c.id
            UNION ALL
            SELECT 'loyalty', NULL, 'Loyalty coupons',
                   (SELECT count(*) FROM conversions v WHERE v.shop_domain = @shop AND v.state = 'completed'
                      AND v.completed_at >= @since AND v.completed_at < @until),
                   count(DISTINCT upper(r.code)), count(r.id), 0, coalesce(sum(r.discount_amount), 0), coalesce(sum(r.order_amount), 0)
            FROM coupon_redemptions r
            WHERE r.shop_domain = @shop AND r.conversion_id IS NOT NULL AND r.created_at >= @since AND r.created_at < @until
            ORDER BY 1, 2
            """, new { shop = http.User.Shop(), since, until }, cancellationToken: ct)))
            .Select(r => r with { RedemptionRate = r.Issued == 0 ? 0 : Math.Round((decimal)r.Redeemed / r.Issued, 4) })
            .ToList();

        if (format != "csv") return TypedResults.Ok(rows);
        var csv = new StringBuilder("source,campaign_id,title,issued,redeemed,redemptions,redemption_rate,discount_given,revenue\n");
        foreach (var r in rows)
        {
            csv.Append(CultureInfo.InvariantCulture, $"{r.Source},{r.CampaignId},{CsvText.Field(r.Title)},{r.Issued},{r.Redeemed},{r.Redemptions},")
               .Append(CultureInfo.InvariantCulture, $"{r.RedemptionRate},{r.DiscountGiven:0.00},{r.Revenue:0.00}\n");
        }
        return TypedResults.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv", "coupon-report.csv");
    }
}
