using System.Diagnostics;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The customer's coupons from conversions: <c>GET /proxy/api/coupons</c> (with status active, used, expired,
/// cancelled) and <c>POST /proxy/api/coupons/{code}/cancel</c> for an unused one: the discount is deleted
/// first, then the points are given back, once.
/// </summary>
public static class CustomerCoupons
{
    public sealed record Coupon(string Code, decimal Amount, string Currency, long Points, string Status, DateTimeOffset CreatedAt,
        DateTimeOffset ExpiresAt, DateTimeOffset? UsedAt, string ConversionId);

    public sealed record Cancelled(string Code, string Status, long PointsReturned, long Balance);

    public static RouteGroupBuilder MapCustomerCoupons(this RouteGroupBuilder proxy)
    {
        proxy.MapGet("/api/coupons", ListMineAsync).RequireLoggedInCustomer();
        proxy.MapPost("/api/coupons/{code}/cancel", CancelAsync).RequireLoggedInCustomer()
            .ProblemCodes(StatusCodes.Status404NotFound, "coupon_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "coupon_used", "coupon_expired", "conversion_in_progress");
        return proxy;
    }

    /// <summary><c>GET /api/admin/customers/{id}/coupons</c>: the same list, for the merchant's customer lookup.</summary>
    public static RouteGroupBuilder MapCustomerCouponsAdmin(this RouteGroupBuilder admin)
    {
        admin.MapGet("/customers/{id:long}/coupons", (HttpContext http, long id, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct) =>
            ListAsync(db, http.User.Shop(), id, clock, ct));
        return admin;
    }

    private static Task<IReadOnlyList<Coupon>> ListMineAsync(HttpContext http, NpgsqlDataSource db, TimeProvider clock, CancellationToken ct) =>
        ListAsync(db, http.Proxy().Shop, http.Customer(), clock, ct);

    internal static async Task<IReadOnlyList<Coupon>> ListAsync(NpgsqlDataSource db, string shop, long customer, TimeProvider clock,
        CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<ConversionRow>(new CommandDefinition($"""
            SELECT {ConversionRow.Columns} FROM conversions
            WHERE shop_domain = @shop AND customer_id = @customer AND state = 'completed' AND coupon_status <> 'none'
            ORDER BY created_at DESC LIMIT 200
            """, new { shop, customer }, cancellationToken: ct));
        var now = clock.GetUtcNow();
        return rows.Select(c => new Coupon(c.Code, c.Amount, c.Currency, c.Points, c.CouponView(now), c.CreatedAt, c.ExpiresAt, c.UsedAt,
            c.Id)).ToList();
    }

    private static async Task<Results<Ok<Cancelled>, Accepted<ConvertPoints.InProgress>, ProblemHttpResult>> CancelAsync(
        HttpContext http, string code, NpgsqlDataSource db, ConversionSaga saga, PosClient pos, IDataProtectionProvider dataProtection,
        IOptions<ConversionOptions> options, TimeProvider clock, CancellationToken ct)
    {
        var (shop, customer) = (http.Proxy().Shop, http.Customer());
        // A drive under way on the coupon (its list's write behind the conversion's answer, a reconciler run) is waited for a moment,
        // the coupon read again each time: one used or cancelled meanwhile answers as such.
        ConversionRow? c;
        var waited = Stopwatch.StartNew();
        for (var pause = 50; ; pause = Math.Min(2 * pause, 200))
        {
            var last = waited.ElapsedMilliseconds >= options.Value.CancelWaitMilliseconds; // a try after the wait reads the coupon once more
            await using var conn = await db.OpenConnectionAsync(ct);
            c = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
                SELECT {ConversionRow.Columns} FROM conversions
                WHERE shop_domain = @shop AND customer_id = @customer AND upper(code) = upper(@code) AND state = 'completed'
                """, new { shop, customer, code }, cancellationToken: ct));
            if (c is null) return Problems.NotFound("coupon_not_found", "You have no such coupon.");
            switch (c.CouponView(clock.GetUtcNow()))
            {
                case CouponStatuses.Used: return Problems.Create(StatusCodes.Status409Conflict, "coupon_used",
                    "This coupon was already used in an order; its points stay spent.");
                case CouponStatuses.Expired: return Problems.Create(StatusCodes.Status409Conflict, "coupon_expired", "This coupon has expired.");
                case CouponStatuses.Cancelled when c.CouponStatus == CouponStatuses.Cancelled:
                    return TypedResults.Ok(await ResultAsync(c, conn, shop, customer, pos, dataProtection, ct));
            }
            c = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
                UPDATE conversions SET coupon_status = 'cancelling', locked_until = now() + make_interval(secs => @lease), lease_token =
                    gen_random_uuid(),
                                       updated_at = now()
                WHERE id = @id AND coupon_status IN ('active', 'cancelling') AND (locked_until IS NULL OR locked_until < now())
                RETURNING {ConversionRow.Columns}
                """, new { id = c.Id, lease = (double)options.Value.LeaseSeconds }, cancellationToken: ct));
            if (c is not null) break;
            if (last)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "conversion_in_progress",
                    "This coupon is being processed; try again in a moment.");
            }
            await conn.CloseAsync(); // not held while waiting
            await Task.Delay(pause, ct);
        }

        var claimed = c;
        try
        {
            c = await saga.DriveAsync(c, TimeSpan.FromSeconds(options.Value.RequestShopifyWaitSeconds), ct);
        }
        finally
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            await conn.ExecuteAsync(new CommandDefinition("UPDATE conversions SET locked_until = NULL WHERE id = @Id AND lease_token = @LeaseToken",
                claimed));
        }
        if (c.CouponStatus == CouponStatuses.Used)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "coupon_used", "This coupon was already used in an order; its points stay spent.");
        }
        if (c.CouponStatus != CouponStatuses.Cancelled)
        {
            return TypedResults.Accepted($"/proxy/api/coupons", new ConvertPoints.InProgress(c.Id, CouponStatuses.Cancelling));
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            return TypedResults.Ok(await ResultAsync(c, conn, shop, customer, pos, dataProtection, ct));
        }
    }

    private static async Task<Cancelled> ResultAsync(ConversionRow c, NpgsqlConnection conn, string shop, long customer, PosClient pos,
        IDataProtectionProvider dataProtection, CancellationToken ct)
    {
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        var balance = await CustomerBalance.ReadAsync(conn, shop, customer, settings, pos, dataProtection, ct);
        return new Cancelled(c.Code, CouponStatuses.Cancelled, c.Points, balance.Balance);
    }
}
