namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// <c>GET /api/admin/customers/{id}/tier</c>: the customer's standing and their last 20 tier changes (the audit: who, why, when);
/// <c>PUT /api/admin/customers/{id}/tier { tierId, reason }</c>: the merchant sets the customer's tier by hand (<c>tierId</c> null:
/// no tier), kept whatever the rules say, or <c>{ automatic: true, reason }</c> gives the customer back to the rules.
/// </summary>
public static class CustomerTierEndpoints
{
    public sealed record SetTierRequest(long? TierId, bool? Automatic, string? Reason);

    public sealed record ChangeView(long Id, string? FromTier, string? ToTier, string Cause, string? Reason, string Actor, DateTimeOffset At);

    public sealed record CustomerTierView(long CustomerId, CustomerTierStatus? Status, IReadOnlyList<ChangeView> History);

    public static RouteGroupBuilder MapCustomerTier(this RouteGroupBuilder admin)
    {
        admin.MapGet("/customers/{id:long}/tier", GetAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_customer");
        admin.MapPut("/customers/{id:long}/tier", SetAsync)
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_customer", "invalid_reason")
            .ProblemCodes(StatusCodes.Status404NotFound, "tier_not_found")
            .RequestExample(new SetTierRequest(3, null, "Founding customer: Gold for life"))
            .ResponseExample(StatusCodes.Status200OK, new CustomerTierView(7001,
                new CustomerTierStatus(new TierView(3, "Gold", 1.5m, ["Free shipping over 50"]), "manual",
                    new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero), TierBases.PointsEarned, 12, 420m, null, null),
                [new ChangeView(17, null, "Gold", TierCauses.Manual, "Founding customer: Gold for life", "staff:44",
                    new DateTimeOffset(2026, 12, 3, 10, 0, 0, TimeSpan.Zero))]));
        return admin;
    }

    private static async Task<Results<Ok<CustomerTierView>, ProblemHttpResult>> GetAsync(HttpContext http, long id, NpgsqlDataSource db,
        Pending.ProgramClock clock, CancellationToken ct)
    {
        if (id <= 0) return Problems.Validation("invalid_customer", "The customer id is a positive number.");
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        var status = await CustomerTierStatus.ReadAsync(conn, shop, id, clock.Now, ct);
        var history = await conn.QueryAsync<ChangeView>(new CommandDefinition("""
            SELECT c.id, f.name AS from_tier, t.name AS to_tier, c.cause, c.reason, c.actor, c.created_at AS at
            FROM tier_changes c LEFT JOIN tiers f ON f.id = c.from_tier_id LEFT JOIN tiers t ON t.id = c.to_tier_id
            WHERE c.shop_domain = @shop AND c.customer_id = @id ORDER BY c.id DESC LIMIT 20
            """, new { shop, id }, cancellationToken: ct));
        return TypedResults.Ok(new CustomerTierView(id, status, history.ToList()));
    }

    private static async Task<Results<Ok<CustomerTierView>, ProblemHttpResult>> SetAsync(HttpContext http, long id, SetTierRequest r,
        NpgsqlDataSource db, Pending.ProgramClock clock, CancellationToken ct)
    {
        if (id <= 0) return Problems.Validation("invalid_customer", "The customer id is a positive number.");
        if (r.Reason?.Trim() is not { Length: >= 1 and <= 500 } || StoredText.HasNul(r.Reason))
        {
            return Problems.Validation("invalid_reason", "A reason of 1-500 characters is required: it is kept in the customer's tier history.");
        }
        var shop = http.User.Shop();
        var actor = "staff:" + (http.User.FindFirst("sub")?.Value ?? "unknown");
        var now = clock.Now;
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var (rules, tiers) = await TierProgram.LoadAsync(conn, tx, shop, ct);
        var to = r.TierId is { } tierId ? tiers.FirstOrDefault(t => t.Id == tierId) : null;
        if (r.Automatic != true && r.TierId is not null && to is null)
        {
            return Problems.NotFound("tier_not_found", "No such active tier in this shop.");
        }
        var row = await conn.QuerySingleAsync<CustomerTier>(new CommandDefinition("""
            INSERT INTO customer_tiers (shop_domain, customer_id, tier_id, source, since, evaluated_at)
            VALUES (@shop, @id, NULL, 'computed', @now, @now) ON CONFLICT (shop_domain, customer_id) DO NOTHING;
            SELECT tier_id, source, since, below_since, metric FROM customer_tiers WHERE shop_domain = @shop AND customer_id = @id FOR UPDATE;
            """, new { shop, id, now }, tx, cancellationToken: ct));
        var from = row.TierId is { } fromId
            ? tiers.FirstOrDefault(t => t.Id == fromId) ?? await TierEvaluation.ArchivedAsync(conn, tx, fromId, ct)
            : null;
        if (r.Automatic == true)
        {
            // The rules decide from now on, at once: the tier the figure reaches, without a grace period.
            var metric = await TierProgram.MetricAsync(conn, tx, shop, id, rules, now, ct);
            var target = TierProgram.Reached(tiers, metric);
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE customer_tiers SET source = 'computed', tier_id = @target, below_since = NULL, metric = @metric, evaluated_at = @now,
                    since = CASE WHEN tier_id IS DISTINCT FROM @target THEN @now ELSE since END
                WHERE shop_domain = @shop AND customer_id = @id
                """, new { shop, id, target = target?.Id, metric, now }, tx, cancellationToken: ct));
            await TierEvaluation.RecordAsync(conn, tx, shop, id, from, target, TierCauses.Automatic, r.Reason.Trim(), actor, ct);
        }
        else
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE customer_tiers SET source = 'manual', tier_id = @to, since = @now, below_since = NULL
                WHERE shop_domain = @shop AND customer_id = @id
                """, new { shop, id, to = to?.Id, now }, tx, cancellationToken: ct));
            await TierEvaluation.RecordAsync(conn, tx, shop, id, from, to, TierCauses.Manual, r.Reason.Trim(), actor, ct);
        }
        await tx.CommitAsync(ct);
        return await GetAsync(http, id, db, clock, ct) is { Result: Ok<CustomerTierView> ok } ? ok : Problems.NotFound("tier_not_found", "Gone.");
    }
}
