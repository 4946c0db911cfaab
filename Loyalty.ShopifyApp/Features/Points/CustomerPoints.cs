using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;
using Microsoft.AspNetCore.Mvc;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// The merchant's customer view: <c>GET /api/admin/customers/{id}</c> (balance, totals, full paged history) and
/// <c>POST /api/admin/customers/{id}/points</c> (bonus points, or a negative adjustment, keyed by Idempotency-Key).
/// </summary>
public static partial class CustomerPoints
{
    /// <param name="Balance">The points available to spend.</param>
    /// <param name="Lifetime">Every point earned and not taken back, pending ones included.</param>
    public sealed record CustomerView(long CustomerId, long Balance, long TotalEarned, long TotalRedeemed, string BalanceSource,
        IReadOnlyList<Ledger.HistoryItem> History, long? NextBefore, long Pending, long Lifetime, IReadOnlyList<PendingOrder> PendingOrders,
        ExpiryNotice Expiry);

    public sealed record PointsRequest(long Points, string? Description);

    public sealed record PointsResult(long TransactionId, long Points, long Balance, bool Replayed);

    /// <summary>The largest bonus or adjustment one request may make, either way.</summary>
    public const long MaxPoints = 1_000_000;

    public static RouteGroupBuilder MapCustomerPoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/customers/{id:long}", GetAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_customer");
        admin.MapPost("/customers/{id:long}/points", AddAsync)
            .ProblemCodes(StatusCodes.Status400BadRequest, "idempotency_key_required")
            .ProblemCodes(StatusCodes.Status409Conflict, "idempotency_key_reused")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_customer", "invalid_points", "invalid_description",
                "insufficient_points")
            .RequestExample(new PointsRequest(200, "Apology for the late delivery"))
            .ResponseExample(StatusCodes.Status201Created, new PointsResult(3302, 200, 1450, Replayed: false));
        return admin;
    }

    private static async Task<Results<Ok<CustomerView>, ProblemHttpResult>> GetAsync(HttpContext http, long id, long? before, int? limit,
        NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection, PendingRelease pending, PointsExpiry expiry, CancellationToken ct)
    {
        if (id <= 0) return Problems.Validation("invalid_customer", "Customer ids are positive numbers.");
        var shop = http.User.Shop();
        var take = Math.Clamp(limit ?? 50, 1, 200);
        await using var conn = await db.OpenConnectionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        await pending.ReleaseDueForCustomerAsync(conn, shop, id, ct);
        await expiry.ExpireDueForCustomerAsync(conn, shop, id, notifyPos: true, settings, ct);
        var balance = await CustomerBalance.ReadAsync(conn, shop, id, settings, pos, dataProtection, ct);
        var history = await Ledger.HistoryAsync(conn, shop, id, before, take, ct);
        var pendingOrders = balance.Pending > 0 ? await PendingOrders.ForCustomerAsync(conn, shop, id, ct) : [];
        return TypedResults.Ok(new CustomerView(id, balance.Balance, balance.TotalEarned, balance.TotalRedeemed, balance.BalanceSource,
            history, history.Count == take ? history[^1].Id : null, balance.Pending, balance.Lifetime, pendingOrders,
            await HeldLots.NoticeAsync(conn, shop, id, balance.LedgerBalance, settings, ct)));
    }

    private static async Task<Results<Created<PointsResult>, Ok<PointsResult>, ProblemHttpResult>> AddAsync(
        HttpContext http, long id, PointsRequest request, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        NpgsqlDataSource db, PosSyncTrigger posSync, ProgramClock clock, ILoggerFactory loggers, CancellationToken ct)
    {
        if (!IdempotencyKey.IsValid(idempotencyKey, 90)) return IdempotencyKey.Required(90); // "bonus:" + key fits a 100-character reference
        if (id <= 0) return Problems.Validation("invalid_customer", "Customer ids are positive numbers.");
        // Compared, not Math.Abs'd: Math.Abs(long.MinValue) overflows.
        if (request.Points is 0 or < -MaxPoints or > MaxPoints)
        {
            const string Rule = "Points must be non-zero and at most 1,000,000 either way.";
            return Problems.Validation("invalid_points", Rule, null,
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["points"] = [Rule] } });
        }
        if (StoredText.HasNul(request.Description)) return StoredText.Problem("invalid_description", "description");
        var description = request.Description?.Trim();
        if (string.IsNullOrEmpty(description) || description.Length > 500)
        {
            return Problems.Validation("invalid_description", "A description (the reason the customer will see) of 1-500 characters is required.");
        }

        var shop = http.User.Shop();
        var reference = $"bonus:{idempotencyKey}";
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, tx, shop, ct);
        var earlier = await conn.QuerySingleOrDefaultAsync<(long CustomerId, long Points)?>(new CommandDefinition(
            "SELECT customer_id, points FROM point_transactions WHERE shop_domain = @shop AND reference = @reference",
            new { shop, reference }, tx, cancellationToken: ct));
        if (earlier is { } e && (e.CustomerId != id || e.Points != request.Points))
        {
            return Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_reused",
                "This Idempotency-Key was already used for a different request.");
        }

        Posted posted;
        try
        {
            posted = await Ledger.PostAsync(conn, tx, new PointsEntry(shop, id, request.Points, request.Points > 0 ? "bonus" : "manual_adjustment",
                reference, description, "staff", http.User.FindFirst("sub")?.Value, OccurredAt: clock.Now),
                new Posting(QueueForPos: settings.PosMode), ct);
        }
        catch (InsufficientPointsException ex)
        {
            return Problems.Validation("insufficient_points", "The customer does not have that many points.",
                $"Balance {ex.Balance}, adjustment {request.Points}.", new Dictionary<string, object?> { ["balance"] = ex.Balance });
        }
        await tx.CommitAsync(ct);
        if (settings.PosMode && !posted.AlreadyApplied) posSync.Notify();

        var result = new PointsResult(posted.TransactionId, posted.Points, posted.BalanceAfter, posted.AlreadyApplied);
        if (posted.AlreadyApplied) return TypedResults.Ok(result);
        LogAdjusted(loggers.CreateLogger(typeof(CustomerPoints)), shop, id, request.Points, http.User.FindFirst("sub")?.Value);
        return TypedResults.Created($"/api/admin/customers/{id}", result);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Staff user {StaffId} of {Shop} gave customer {CustomerId} {Points} points")]
    private static partial void LogAdjusted(ILogger logger, string shop, long customerId, long points, string? staffId);
}
