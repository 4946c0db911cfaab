using Loyalty.ShopifyApp.Features.Conversion;

namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// <c>GET /proxy/api/redemptions</c> (seed 002's get-redemptions): everything the logged-in customer turned points into,
/// newest first: loyalty coupons (their code, value and status) and donations (their cause, the money value they represent
/// and their state), each saying whether it is still active: a coupon that can still be used, a donation still being made.
/// </summary>
public static class MyRedemptions
{
    public static class Kinds
    {
        public const string Coupon = "coupon";
        public const string Donation = "donation";
    }

    /// <param name="Value">What it is worth in the shop's currency: a coupon's amount off, a donation's points × point value when made.</param>
    /// <param name="Status">A coupon's (active, used, expired, cancelled…) or a donation's (pending, completed, failed).</param>
    public sealed record Redemption(string Kind, string Id, long Points, decimal Value, string Currency, string Status, bool Active,
        DateTimeOffset CreatedAt, string? Code, DateTimeOffset? ExpiresAt, DateTimeOffset? UsedAt, string? Cause);

    private sealed record DonationRow(string Id, long Points, decimal MoneyValue, string Currency, string State, string Cause,
        DateTimeOffset CreatedAt);

    /// <summary>At most this many of each kind, newest first.</summary>
    private const int Limit = 200;

    public static RouteGroupBuilder MapMyRedemptions(this RouteGroupBuilder proxy)
    {
        proxy.MapGet("/api/redemptions", ListAsync).RequireLoggedInCustomer();
        return proxy;
    }

    private static async Task<IReadOnlyList<Redemption>> ListAsync(HttpContext http, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct)
    {
        var (shop, customer) = (http.Proxy().Shop, http.Customer());
        var coupons = await CustomerCoupons.ListAsync(db, shop, customer, clock, ct);
        await using var conn = await db.OpenConnectionAsync(ct);
        var donations = await conn.QueryAsync<DonationRow>(new CommandDefinition("""
            SELECT id, points, money_value, currency, state, cause, created_at FROM donations
            WHERE shop_domain = @shop AND customer_id = @customer ORDER BY created_at DESC LIMIT @Limit
            """, new { shop, customer, Limit }, cancellationToken: ct));
        return coupons
            .Select(c => new Redemption(Kinds.Coupon, c.ConversionId, c.Points, c.Amount, c.Currency, c.Status, c.Status == CouponStatuses.Active,
                c.CreatedAt, c.Code, c.ExpiresAt, c.UsedAt, null))
            .Concat(donations.Select(d => new Redemption(Kinds.Donation, d.Id, d.Points, d.MoneyValue, d.Currency, d.State, d.State == "pending",
                d.CreatedAt, null, null, null, d.Cause)))
            .OrderByDescending(r => r.CreatedAt)
            .ToList();
    }
}
