namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// What a conversion means to the customer, for the request that drove it, a replay of its key and a poll of
/// <c>GET /proxy/api/conversions/{id}</c>: the code once completed, a status while settling, the reason if it failed.
/// </summary>
public static partial class ConvertPoints
{
    /// <summary>How a failed conversion answers, when it is made and when it is polled.</summary>
    private static RouteHandlerBuilder DeclareOutcomeAnswers(this RouteHandlerBuilder endpoint) => endpoint
        .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "insufficient_points")
        .OpenProblemCodes(StatusCodes.Status502BadGateway, "the code the POS refused the deduction with",
            "conversion_failed", "coupon_creation_failed", "pos_not_configured", "cancelled_by_merchant")
        .ProblemCodes(StatusCodes.Status503ServiceUnavailable, "shopify_unavailable", "pos_unavailable");

    private static async Task<Results<Ok<Converted>, Accepted<InProgress>, ProblemHttpResult>> GetAsync(
        HttpContext http, string id, NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection, CancellationToken ct)
    {
        var (shop, customer) = (http.Proxy().Shop, http.Customer());
        await using var conn = await db.OpenConnectionAsync(ct);
        var c = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition(
            $"SELECT {ConversionRow.Columns} FROM conversions WHERE id = @id AND shop_domain = @shop AND customer_id = @customer",
            new { id, shop, customer }, cancellationToken: ct));
        if (c is null) return Problems.NotFound("conversion_not_found", "No such conversion.");
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        return await ResultAsync(http, c, replay: true, db, pos, dataProtection, settings, ct) switch
        {
            { Result: Created<Converted> created } => TypedResults.Ok(created.Value!),
            { Result: Ok<Converted> ok } => ok,
            { Result: Accepted<InProgress> accepted } => accepted,
            { Result: ProblemHttpResult problem } => problem,
            _ => throw new InvalidOperationException("Unexpected result."),
        };
    }

    /// <summary>What a conversion means to the customer: the code once completed, a status while settling, the reason if it failed.</summary>
    private static async Task<Results<Created<Converted>, Ok<Converted>, Accepted<InProgress>, ProblemHttpResult>> ResultAsync(
        HttpContext http, ConversionRow c, bool replay, NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection,
        ShopSettings settings,
        CancellationToken ct)
    {
        switch (c.State)
        {
            case ConversionStates.Completed:
                // A new code shows the balance its deduction left (the POS said it; no need to ask again); a replay or a
                // poll shows the balance now.
                long balance;
                if (!replay && c.BalanceAfter is { } after) balance = after;
                else
                {
                    await using var conn = await db.OpenConnectionAsync(ct);
                    balance = (await CustomerBalance.ReadAsync(conn, c.ShopDomain, c.CustomerId, settings, pos, dataProtection, ct)).Balance;
                }
                var body = new Converted(c.Id, c.Code, c.Amount, c.Currency, c.Points, c.ExpiresAt, balance);
                return replay ? TypedResults.Ok(body) : TypedResults.Created($"/proxy/api/conversions/{c.Id}", body);
            case ConversionStates.Failed:
                var extensions = new Dictionary<string, object?> { ["conversionId"] = c.Id };
                if (c.FailureCode is "shopify_unavailable" or "pos_unavailable") http.Response.Headers.RetryAfter = "30";
                return c.FailureCode switch
                {
                    "insufficient_points" => Problems.Validation("insufficient_points", "You do not have enough points.", c.FailureReason,
                        extensions),
                    "shopify_unavailable" or "pos_unavailable" => Problems.Create(StatusCodes.Status503ServiceUnavailable, c.FailureCode,
                        "The coupon could not be issued right now; no points were deducted. Please try again shortly.", c.FailureReason, extensions),
                    _ => Problems.Create(StatusCodes.Status502BadGateway, c.FailureCode ?? "conversion_failed",
                        "The coupon could not be issued; no points were deducted.", c.FailureReason, extensions),
                };
            default:
                return TypedResults.Accepted($"/proxy/api/conversions/{c.Id}", new InProgress(c.Id, c.State));
        }
    }
}
