namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// <c>GET /api/admin/conversions?state=needs_review</c>: what the reconciler could not settle, with the reason;
/// <c>POST /api/admin/conversions/{id}/retry</c> resumes the step it stopped at, now; <c>POST …/cancel</c>
/// withdraws the coupon (deleted in Shopify, no points taken), refused while a POS deduction may have happened.
/// </summary>
public static partial class ConversionReview
{
    public sealed record Item(string Id, long CustomerId, long Points, decimal Amount, string Currency, string State, string Code,
        string? DiscountId, string? FailureCode, string? FailureReason, string? ReviewFrom, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

    private const string ItemColumns = """
        id, customer_id, points, amount, currency, state, code, discount_id, failure_code, failure_reason, review_from, created_at, completed_at
        """;

    public static RouteGroupBuilder MapConversionReview(this RouteGroupBuilder admin)
    {
        admin.MapGet("/conversions", ListAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_state");
        admin.MapPost("/conversions/{id}/retry", (HttpContext http, string id, NpgsqlDataSource db, ConversionSaga saga,
            IOptions<ConversionOptions> options, ILoggerFactory loggers, CancellationToken ct) =>
            ActAsync(http, id, retry: true, db, saga, options.Value, loggers, ct)).DeclareActAnswers();
        admin.MapPost("/conversions/{id}/cancel", (HttpContext http, string id, NpgsqlDataSource db, ConversionSaga saga,
            IOptions<ConversionOptions> options, ILoggerFactory loggers, CancellationToken ct) =>
            ActAsync(http, id, retry: false, db, saga, options.Value, loggers, ct)).DeclareActAnswers();
        return admin;
    }

    /// <summary>What a retry or a cancel answers when the conversion is not (or no longer) one to act on.</summary>
    private static RouteHandlerBuilder DeclareActAnswers(this RouteHandlerBuilder endpoint) => endpoint
        .ProblemCodes(StatusCodes.Status404NotFound, "conversion_not_found")
        .ProblemCodes(StatusCodes.Status409Conflict, "not_in_review", "review_step_unknown", "coupon_outcome_unknown", "deduction_outcome_unknown",
            "conversion_busy");

    private static async Task<Results<Ok<IReadOnlyList<Item>>, ProblemHttpResult>> ListAsync(HttpContext http, NpgsqlDataSource db, string? state,
        int? limit, CancellationToken ct)
    {
        if (state is not null && !ConversionStates.All.Contains(state))
        {
            return Problems.Validation("invalid_state", "Unknown state.", string.Join(", ", ConversionStates.All));
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<Item> items = (await conn.QueryAsync<Item>(new CommandDefinition($"""
            SELECT {ItemColumns}
            FROM conversions WHERE shop_domain = @shop AND (@state::text IS NULL OR state = @state)
            ORDER BY created_at DESC LIMIT @take
            """, new { shop = http.User.Shop(), state, take = Math.Clamp(limit ?? 50, 1, 200) }, cancellationToken: ct))).ToList();
        return TypedResults.Ok(items);
    }

    private static async Task<Results<Ok<Item>, ProblemHttpResult>> ActAsync(HttpContext http, string id, bool retry, NpgsqlDataSource db,
        ConversionSaga saga, ConversionOptions options, ILoggerFactory loggers, CancellationToken ct)
    {
        var shop = http.User.Shop();
        var staff = http.User.FindFirst("sub")?.Value ?? "staff";
        ConversionRow? resumed;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            var row = await conn.QuerySingleOrDefaultAsync<(string State, string? ReviewFrom, string BalanceSource, DateTimeOffset? DeductAttemptedAt,
                DateTimeOffset? CouponRequestedAt)?>(
                new CommandDefinition("""
                    SELECT state, review_from, balance_source, deduct_attempted_at, coupon_requested_at FROM conversions WHERE id = @id AND
                        shop_domain = @shop
                    """, new { id, shop }, cancellationToken: ct));
            if (row is not { } r) return Problems.NotFound("conversion_not_found", "No such conversion.");
            if (r.State != ConversionStates.NeedsReview)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "not_in_review", $"This conversion is {r.State}, not waiting for review.");
            }
            if (r.ReviewFrom is null)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "review_step_unknown",
                    "This conversion went to review before its step was recorded; settle it by hand in Shopify and the POS.");
            }
            string to;
            if (retry)
            {
                to = r.ReviewFrom;
            }
            else if (r.ReviewFrom == ConversionStates.Pending && r.CouponRequestedAt is not null)
            {
                // Its coupon may exist in Shopify: failing it blind could leave a live coupon no points paid for.
                return Problems.Create(StatusCodes.Status409Conflict, "coupon_outcome_unknown",
                    "Shopify may have created this coupon. Retry instead: the code is looked up and the conversion settled from what Shopify has.");
            }
            else if (r.ReviewFrom == ConversionStates.Settling
                     || r.BalanceSource == BalanceSources.Pos && r.DeductAttemptedAt is not null && r.ReviewFrom == ConversionStates.CouponCreated)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "deduction_outcome_unknown",
                    "The POS may have taken these points. Retry instead: the outcome is settled by reference once the POS answers.");
            }
            else
            {
                to = ConversionStates.Compensating;
            }
            // Leased, so the reconciler leaves it to this request while it runs.
            resumed = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
                UPDATE conversions SET state = @to, review_from = NULL, reviewed_by = @staff, updated_at = now(), next_attempt_at = now(),
                    failure_code = CASE WHEN @to = 'compensating' THEN coalesce(failure_code, 'cancelled_by_merchant') ELSE failure_code END,
                    locked_until = now() + make_interval(secs => @lease), lease_token = gen_random_uuid()
                WHERE id = @id AND shop_domain = @shop AND state = 'needs_review' AND (locked_until IS NULL OR locked_until < now())
                RETURNING {ConversionRow.Columns}
                """, new { id, shop, to, staff, lease = (double)options.LeaseSeconds }, cancellationToken: ct));
        }
        if (resumed is null) return Problems.Create(StatusCodes.Status409Conflict, "conversion_busy", "This conversion is being worked on; reload.");
        LogAction(loggers.CreateLogger(typeof(ConversionReview)), shop, id, retry ? "retry" : "cancel", staff, resumed.State);

        try
        {
            await saga.DriveAsync(resumed, ct);
        }
        finally
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            await conn.ExecuteAsync(new CommandDefinition("UPDATE conversions SET locked_until = NULL WHERE id = @Id AND lease_token = @LeaseToken",
                resumed));
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            return TypedResults.Ok(await conn.QuerySingleAsync<Item>(new CommandDefinition(
                $"SELECT {ItemColumns} FROM conversions WHERE id = @id", new { id }, cancellationToken: ct)));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Conversion {ConversionId} of {Shop}: merchant {Staff} chose {Action} from review, resuming at {State}")]
    private static partial void LogAction(ILogger logger, string shop, string conversionId, string action, string staff, string state);
}
