namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The merchant's review queue for coupons an order used after the customer cancelled them and got the points back
/// (the order came after the cancellation's check with Shopify, or its webhook late): <c>GET /api/admin/coupon-incidents</c>
/// lists them with the amount at stake, <c>POST /api/admin/coupon-incidents/{id}/resolve</c> records the merchant's
/// decision (taking the points back, if they choose to, is a points adjustment on the customer). A customer's
/// <c>loyalty.coupons</c> metafield that cannot be written time after time is an incident too; resolving it retries the
/// write. Beside them,
/// <c>GET /api/admin/orphan-coupons</c>: what the orphan coupon sweep found and deleted.
/// </summary>
public static partial class CouponIncidents
{
    /// <summary>An order used a coupon after it was cancelled and its points given back.</summary>
    public const string UsedAfterCancel = "used_after_cancel";

    /// <summary>The customer's <c>loyalty.coupons</c> metafield could not be written, time after time; resolving retries it.</summary>
    public const string MetafieldWriteFailed = "metafield_write_failed";

    public sealed record Incident(long Id, string ConversionId, long CustomerId, long? OrderId, string Kind, string Code, decimal Amount,
        string Currency, long Points, string DetectedBy, string? Detail, DateTimeOffset CreatedAt, DateTimeOffset? ResolvedAt, string? ResolvedBy,
        string? Resolution);

    public sealed record Resolve(string Resolution);

    private const string ExampleResolution = "Refunded the order; the coupon was voided in Shopify.";

    private const string Columns = """
        i.id, i.conversion_id, c.customer_id, i.order_id, i.kind, i.code, i.amount, i.currency, i.points, i.detected_by, i.detail, i.created_at,
        i.resolved_at, i.resolved_by, i.resolution
        """;

    public static RouteGroupBuilder MapCouponIncidents(this RouteGroupBuilder admin)
    {
        admin.MapGet("/coupon-incidents", ListAsync);
        admin.MapPost("/coupon-incidents/{id:long}/resolve", ResolveAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "incident_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "incident_resolved")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_resolution")
            .RequestExample(new Resolve(ExampleResolution))
            .ResponseExample(StatusCodes.Status200OK, new Incident(17, "conv_7hQ2mX9kLp3vR8tY1wZ4nB6c", 7001, 5502, UsedAfterCancel,
                "7001-K7Q2MX-500", 500m, "JPY", 500, "order_webhook", null, new DateTimeOffset(2025, 6, 3, 10, 0, 0, TimeSpan.Zero),
                new DateTimeOffset(2025, 6, 4, 9, 0, 0, TimeSpan.Zero), "staff@example.com", ExampleResolution));
        admin.MapGet("/orphan-coupons", OrphanSweepAsync);
        return admin;
    }

    public sealed record OrphanSweep(DateTimeOffset? LastRunAt, int LastChecked, int LastDeleted, long DeletedTotal, long UsedTotal,
        string? LastError);

    /// <summary>What the orphan coupon sweep (<see cref="OrphanCouponSweep"/>) last found in the shop, and its totals.</summary>
    private static async Task<OrphanSweep> OrphanSweepAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<OrphanSweep>(new CommandDefinition("""
            SELECT last_run_at, last_checked, last_deleted, deleted_total, used_total, last_error FROM orphan_coupon_sweeps WHERE shop_domain = @shop
            """, new { shop = http.User.Shop() }, cancellationToken: ct)) ?? new OrphanSweep(null, 0, 0, 0, 0, null);
    }

    private static async Task<IReadOnlyList<Incident>> ListAsync(HttpContext http, NpgsqlDataSource db, bool? resolved, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Incident>(new CommandDefinition($"""
            SELECT {Columns} FROM coupon_incidents i JOIN conversions c ON c.id = i.conversion_id
            WHERE i.shop_domain = @shop AND (@resolved IS NULL OR (i.resolved_at IS NOT NULL) = @resolved)
            ORDER BY i.created_at DESC LIMIT 500
            """, new { shop = http.User.Shop(), resolved }, cancellationToken: ct))).ToList();
    }

    private static async Task<Results<Ok<Incident>, ProblemHttpResult>> ResolveAsync(HttpContext http, long id, Resolve body, NpgsqlDataSource db,
        ILoggerFactory loggers, CancellationToken ct)
    {
        if (StoredText.HasNul(body.Resolution)) return StoredText.Problem("invalid_resolution", "resolution");
        if (string.IsNullOrWhiteSpace(body.Resolution) || body.Resolution.Length > 500)
        {
            return Problems.Validation("invalid_resolution", "Say in up to 500 characters how the incident was resolved.");
        }
        var shop = http.User.Shop();
        var staff = http.User.FindFirst("sub")?.Value ?? "staff";
        await using var conn = await db.OpenConnectionAsync(ct);
        var updated = await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE coupon_incidents SET resolved_at = now(), resolved_by = @staff, resolution = @resolution
            WHERE id = @id AND shop_domain = @shop AND resolved_at IS NULL
            """, new { id, shop, staff, resolution = body.Resolution.Trim() }, cancellationToken: ct));
        var incident = await conn.QuerySingleOrDefaultAsync<Incident>(new CommandDefinition(
            $"SELECT {Columns} FROM coupon_incidents i JOIN conversions c ON c.id = i.conversion_id WHERE i.id = @id AND i.shop_domain = @shop",
            new { id, shop }, cancellationToken: ct));
        if (incident is null) return Problems.NotFound("incident_not_found", "No such incident.");
        if (updated == 0) return Problems.Create(StatusCodes.Status409Conflict, "incident_resolved", "This incident was already resolved.");
        if (incident.Kind == MetafieldWriteFailed)
        {
            // The merchant fixed what kept the write failing (or wants it tried again): the reconciler takes it up now.
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE conversions SET metafield_failures = 0, next_attempt_at = now() WHERE id = @ConversionId AND metafield_synced_at IS NULL",
                incident, cancellationToken: ct));
        }
        LogResolved(loggers.CreateLogger(typeof(CouponIncidents)), shop, id, incident.Code, staff);
        return TypedResults.Ok(incident);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Coupon incident {IncidentId} of {Shop} (code {Code}) resolved by {Staff}")]
    private static partial void LogResolved(ILogger logger, string shop, long incidentId, string code, string staff);
}
