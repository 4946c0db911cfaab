using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Features.Dashboard;

/// <summary>
/// <c>GET /api/admin/dashboard?from&amp;to</c>: the merchant's overview for a period (default: the last 30 days):
/// points issued (earned from orders, bonuses, feedback and positive adjustments), points taken back (refunds,
/// cancellations, negative adjustments), points redeemed (coupons and donations, net of cancellations), points
/// outstanding now, coupons issued and used, the redemption rate, and one row per day in the shop's time zone
/// for the chart.
/// </summary>
public static class DashboardReport
{
    /// <param name="PointsIssued">Points that became spendable: awards (when released, for a shop with a pending period), bonuses.</param>
    /// <param name="PointsPending">Points orders hold now until their pending period is over (not in outstanding).</param>
    /// <param name="PointsExpired">Points that expired in the period.</param>
    /// <param name="OutstandingValue">The program's liability: outstanding points at the shop's point value now, in its currency.</param>
    /// <param name="PointsExpiringSoon">Outstanding points that expire within <paramref name="ExpiringSoonDays"/> days unless spent.</param>
    public sealed record Totals(long PointsIssued, long PointsTakenBack, long PointsRedeemed, long PointsOutstanding, long Customers,
        long CouponsIssued, long CouponsUsed, decimal RedemptionRate, long PointsPending = 0, long PointsExpired = 0,
        decimal OutstandingValue = 0, string Currency = "", long PointsExpiringSoon = 0, int ExpiringSoonDays = 0);

    public sealed record Day(string Date, long PointsIssued, long PointsRedeemed, long CouponsIssued, long CouponsUsed);

    public sealed record Report(DateTimeOffset From, DateTimeOffset To, string TimeZone, Totals Totals, IReadOnlyList<Day> Days);

    public static RouteGroupBuilder MapDashboard(this RouteGroupBuilder admin)
    {
        admin.MapGet("/dashboard", GetAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_period");
        return admin;
    }

    private static async Task<Results<Ok<Report>, ProblemHttpResult>> GetAsync(HttpContext http, NpgsqlDataSource db, DateTimeOffset? from,
        DateTimeOffset? to, TimeProvider clock, ProgramClock programClock, IOptions<ExpiryOptions> expiry, CancellationToken ct)
    {
        if (ReportPeriod.Resolve(from, to, clock.GetUtcNow(), out var since, out var until) is { } invalid) return invalid;
        if (until - since > TimeSpan.FromDays(366))
        {
            return ReportPeriod.Invalid("The period is at most 366 days.", new() { ["from"] = ["Must be at most 366 days before to."] });
        }
        var shop = http.User.Shop();

        await using var conn = await db.OpenConnectionAsync(ct);
        var tz = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT iana_timezone FROM shops WHERE shop_domain = @shop", new { shop }, cancellationToken: ct)) ?? "UTC";
        var args = new { shop, since, until, tz };

        var days = (await conn.QueryAsync<Day>(new CommandDefinition("""
            WITH days AS (
                SELECT d::date AS date
                FROM generate_series((@since AT TIME ZONE @tz)::date, ((@until - interval '1 microsecond') AT TIME ZONE @tz)::date, interval '1 day')
                    d),
            points AS (
                SELECT (created_at AT TIME ZONE @tz)::date AS date,
                       sum(points) FILTER (WHERE kind IN ('order_award', 'pending_release', 'bonus', 'feedback')
                                                  OR kind = 'manual_adjustment' AND points > 0)::bigint AS
                           issued,
                       (-sum(points) FILTER (WHERE kind IN ('conversion', 'conversion_reversal', 'donation', 'donation_reversal')))::bigint AS
                           redeemed
                FROM point_transactions
                WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
                GROUP BY 1),
            coupons AS (
                SELECT (completed_at AT TIME ZONE @tz)::date AS date, count(*) AS issued
                FROM conversions
                WHERE shop_domain = @shop AND state = 'completed' AND completed_at >= @since AND completed_at < @until
                GROUP BY 1
                UNION ALL
                SELECT (c.created_at AT TIME ZONE @tz)::date, count(*)
                FROM campaigns c JOIN campaign_codes k ON k.campaign_id = c.id AND k.state = 'created'
                WHERE c.shop_domain = @shop AND c.created_at >= @since AND c.created_at < @until
                GROUP BY 1),
            used AS (
                SELECT (created_at AT TIME ZONE @tz)::date AS date, count(DISTINCT upper(code))::bigint AS used
                FROM coupon_redemptions
                WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
                GROUP BY 1)
            SELECT to_char(d.date, 'YYYY-MM-DD') AS date,
                   coalesce(p.issued, 0) AS points_issued, coalesce(p.redeemed, 0) AS points_redeemed,
                   coalesce((SELECT sum(issued) FROM coupons c WHERE c.date = d.date), 0)::bigint AS coupons_issued,
                   coalesce(u.used, 0) AS coupons_used
            FROM days d LEFT JOIN points p USING (date) LEFT JOIN used u USING (date)
            ORDER BY d.date
            """, args, cancellationToken: ct))).ToList();

        var totals = await conn.QuerySingleAsync<Totals>(new CommandDefinition("""
            SELECT
              coalesce((SELECT sum(points) FROM point_transactions WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
                  AND (kind IN ('order_award', 'pending_release', 'bonus', 'feedback') OR kind = 'manual_adjustment' AND points > 0)), 0)::bigint
                      AS points_issued,
              coalesce((SELECT -sum(points) FROM point_transactions WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
                  AND (kind IN ('refund_clawback', 'cancellation_reversal') OR kind = 'manual_adjustment' AND points < 0)), 0)::bigint AS
                      points_taken_back,
              coalesce((SELECT -sum(points) FROM point_transactions WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
                  AND kind IN ('conversion', 'conversion_reversal', 'donation', 'donation_reversal')), 0)::bigint AS points_redeemed,
              coalesce((SELECT sum(balance) FROM point_balances WHERE shop_domain = @shop AND balance > 0), 0)::bigint AS points_outstanding,
              (SELECT count(*) FROM point_balances WHERE shop_domain = @shop) AS customers,
              0::bigint AS coupons_issued, 0::bigint AS coupons_used, 0::numeric AS redemption_rate,
              coalesce((SELECT sum(pending) FROM point_balances WHERE shop_domain = @shop), 0)::bigint AS points_pending,
              coalesce((SELECT -sum(points) FROM point_transactions WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
                  AND kind = 'expiry'), 0)::bigint AS points_expired,
              0::numeric AS outstanding_value, coalesce((SELECT currency FROM shops WHERE shop_domain = @shop), '') AS currency,
              0::bigint AS points_expiring_soon, 0 AS expiring_soon_days
            """, args, cancellationToken: ct));
        var issued = days.Sum(d => d.CouponsIssued);
        var used = await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            SELECT count(DISTINCT upper(code)) FROM coupon_redemptions WHERE shop_domain = @shop AND created_at >= @since AND created_at < @until
            """, args, cancellationToken: ct));
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        var soonDays = expiry.Value.ExpiringSoonDays;
        totals = totals with
        {
            OutstandingValue = decimal.Round(totals.PointsOutstanding * settings.PointValue, 2),
            PointsExpiringSoon = await ExpiryLiability.ExpiringByAsync(conn, shop, settings, programClock.Now.AddDays(soonDays), ct),
            ExpiringSoonDays = soonDays,
            CouponsIssued = issued,
            CouponsUsed = used,
            RedemptionRate = issued == 0 ? 0 : Math.Round((decimal)used / issued, 4),
        };
        return TypedResults.Ok(new Report(since, until, tz, totals, days));
    }
}
