namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// The merchant's view of points on their way to the POS: <c>GET /api/admin/pos-sync?state=refused</c> (each
/// row with the POS's refusal and its customer's drift), <c>GET /api/admin/pos-sync/drift</c> (ledger vs POS per
/// customer) and retry of a refused or parked row.
/// </summary>
public static class PosSyncEndpoints
{
    /// <param name="RefusalCode">The POS's error code when it refused the row (<c>customer_not_found</c>, <c>insufficient_points</c>, …).</param>
    /// <param name="CustomerDrift">The sum of the customer's refused rows: points the ledger holds that the POS was never told about
    /// (positive: the POS has fewer than the ledger; negative: a refused clawback left them more).</param>
    public sealed record Item(long Id, long CustomerId, string Reference, long Points, string State, int Attempts, string? LastError,
        DateTimeOffset CreatedAt, DateTimeOffset? DeliveredAt, DateTimeOffset NextAttemptAt, string? RefusalCode, int? RefusalStatus,
        DateTimeOffset? RefusedAt, long CustomerDrift);

    /// <summary>One customer whose ledger and POS disagree because the POS refused some of their changes.</summary>
    /// <param name="Drift">Ledger minus what the POS has been told: the sum of <paramref name="RefusedAdditions"/> and <paramref
    /// name="RefusedDeductions"/>.</param>
    /// <param name="RefusedAdditions">Points the POS never received (e.g. an award for a customer it did not know).</param>
    /// <param name="RefusedDeductions">Points taken back in the ledger but still in the POS balance (negative; e.g. a clawback of
    /// points already spent in the store). A conversion does not count them as spendable.</param>
    public sealed record CustomerDrift(long CustomerId, long LedgerBalance, long Drift, long RefusedAdditions, long RefusedDeductions, int Refusals,
        DateTimeOffset LastRefusedAt);

    public static RouteGroupBuilder MapPosSync(this RouteGroupBuilder admin)
    {
        admin.MapGet("/pos-sync", ListAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_state");
        admin.MapGet("/pos-sync/drift", DriftAsync);
        admin.MapPost("/pos-sync/{id:long}/retry", RetryAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "pos_sync_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "pos_sync_not_parked");
        return admin;
    }

    private static async Task<Results<Ok<IReadOnlyList<Item>>, ProblemHttpResult>> ListAsync(
        HttpContext http, NpgsqlDataSource db, string? state, long? before, int? limit, CancellationToken ct)
    {
        if (state is not null && !PosOutboxState.All.Contains(state))
        {
            return Problems.Validation("invalid_state", "Unknown state.", $"Use one of: {string.Join(", ", PosOutboxState.All)}.");
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<Item> items = (await conn.QueryAsync<Item>(new CommandDefinition($"""
            SELECT o.id, o.customer_id, o.reference, o.points, o.state, o.attempts, o.last_error, o.created_at, o.delivered_at,
                   o.next_attempt_at, o.refusal_code, o.refusal_status, o.refused_at,
                   (SELECT coalesce(sum(d.points), 0)::bigint FROM pos_outbox d
                    WHERE d.shop_domain = o.shop_domain AND d.customer_id = o.customer_id AND d.state = '{PosOutboxState.Refused}') AS customer_drift
            FROM pos_outbox o
            WHERE o.shop_domain = @shop AND (@state::text IS NULL OR o.state = @state) AND (@before::bigint IS NULL OR o.id < @before)
            ORDER BY o.id DESC LIMIT @take
            """, new { shop = http.User.Shop(), state, before, take = Math.Clamp(limit ?? 50, 1, 200) }, cancellationToken: ct))).ToList();
        return TypedResults.Ok(items);
    }

    private static async Task<Ok<IReadOnlyList<CustomerDrift>>> DriftAsync(HttpContext http, NpgsqlDataSource db, int? limit, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<CustomerDrift> drift = (await conn.QueryAsync<CustomerDrift>(new CommandDefinition($"""
            SELECT r.customer_id, coalesce(max(b.balance), 0) AS ledger_balance, sum(r.points)::bigint AS drift,
                   coalesce(sum(r.points) FILTER (WHERE r.points > 0), 0)::bigint AS refused_additions,
                   coalesce(sum(r.points) FILTER (WHERE r.points < 0), 0)::bigint AS refused_deductions,
                   count(*)::int AS refusals, max(r.refused_at) AS last_refused_at
            FROM pos_outbox r
            LEFT JOIN point_balances b ON b.shop_domain = r.shop_domain AND b.customer_id = r.customer_id
            WHERE r.shop_domain = @shop AND r.state = '{PosOutboxState.Refused}'
            GROUP BY r.customer_id
            ORDER BY max(r.refused_at) DESC, r.customer_id LIMIT @take
            """, new { shop = http.User.Shop(), take = Math.Clamp(limit ?? 50, 1, 200) }, cancellationToken: ct))).ToList();
        return TypedResults.Ok(drift);
    }

    /// <summary>
    /// Sends a refused or parked row again, with the same reference (the POS applies it at most once). It is pending
    /// again, so it holds back the customer's later rows until the POS answers.
    /// </summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> RetryAsync(HttpContext http, NpgsqlDataSource db, PosSyncTrigger trigger,
        long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var shop = http.User.Shop();
        var retried = await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE pos_outbox SET state = '{PosOutboxState.Pending}', attempts = 0, next_attempt_at = now(),
                refusal_code = NULL, refusal_status = NULL, refused_at = NULL
            WHERE id = @id AND shop_domain = @shop AND state = ANY(@retryable)
            """, new { id, shop, retryable = PosOutboxState.Retryable.ToArray() }, cancellationToken: ct));
        if (retried == 0)
        {
            var state = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT state FROM pos_outbox WHERE id = @id AND shop_domain = @shop", new { id, shop }, cancellationToken: ct));
            if (state is null) return Problems.NotFound("pos_sync_not_found", "No such POS sync entry for this shop.");
            // The code predates refusals and stays stable: it means "not retryable".
            return Problems.Create(StatusCodes.Status409Conflict, "pos_sync_not_parked",
                $"Only refused or parked entries can be retried; this one is {state}.");
        }
        trigger.Notify();
        return TypedResults.NoContent();
    }
}
