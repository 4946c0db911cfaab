using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;
using Microsoft.AspNetCore.Mvc;

namespace Loyalty.ShopifyApp.Features.Donations;

/// <summary>
/// <c>POST /proxy/api/donations { points, cause }</c> (Idempotency-Key): the customer donates points to a cause;
/// the points are deducted (ledger, or the POS with the donation id as reference) and the pledge recorded.
/// <c>GET /api/admin/donations</c>: totals per cause. A POS deduction whose outcome is unknown stays pending
/// and is settled by reference by <see cref="DonationSettler"/>.
/// </summary>
public static partial class Donations
{
    public sealed record DonateRequest(long Points, string? Cause);

    /// <param name="Value">The money the donation represents: its points × the shop's point value when it was made.</param>
    public sealed record Donated(string DonationId, long Points, decimal Value, string Currency, string Cause, string Status, long Balance);

    /// <param name="Value">The money the cause's donations represent (each at the point value of when it was made).</param>
    public sealed record CauseTotal(string Cause, long Donations, long Points, decimal Value, string Currency, long Customers);

    public static RouteGroupBuilder MapDonate(this RouteGroupBuilder proxy)
    {
        proxy.MapPost("/api/donations", DonateAsync).RequireLoggedInCustomer()
            .ProblemCodes(StatusCodes.Status400BadRequest, "idempotency_key_required")
            .ProblemCodes(StatusCodes.Status409Conflict, "idempotency_key_reused", "settings_changed")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_cause", "invalid_points", "insufficient_points")
            .OpenProblemCodes(StatusCodes.Status502BadGateway, "the code the POS refused the donation with", "donation_failed", "pos_unavailable")
            .RequestExample(new DonateRequest(300, "Forest restoration"))
            .ResponseExample(StatusCodes.Status201Created,
                new Donated("don_Pq4sT8vW2xY6zA1bC5dE9fG3", 300, 300m, "JPY", "Forest restoration", "completed", 950));
        return proxy;
    }

    public static RouteGroupBuilder MapDonationTotals(this RouteGroupBuilder admin)
    {
        admin.MapGet("/donations", TotalsAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_period", "invalid_format");
        return admin;
    }

    private static async Task<Results<Created<Donated>, Ok<Donated>, Accepted<Donated>, ProblemHttpResult>> DonateAsync(
        HttpContext http, DonateRequest request, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection, PendingRelease pending, ProgramClock clock,
        PosSyncTrigger posSync, ILoggerFactory loggers, CancellationToken ct)
    {
        if (!IdempotencyKey.IsValid(idempotencyKey, 100)) return IdempotencyKey.Required(100);
        if (StoredText.HasNul(request.Cause)) return StoredText.Problem("invalid_cause", "cause");
        var cause = request.Cause?.Trim() ?? "";
        if (cause.Length is < 2 or > 100) return Problems.Validation("invalid_cause", "Name the cause (2-100 characters).");
        if (request.Points is < 1 or > 1_000_000)
        {
            const string Rule = "Donate between 1 and 1,000,000 points.";
            return Problems.Validation("invalid_points", Rule, null,
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["points"] = [Rule] } });
        }
        var (shop, customer) = (http.Proxy().Shop, http.Customer());

        await using var conn = await db.OpenConnectionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        var existing = await conn.QuerySingleOrDefaultAsync<(string Id, long Points, string Cause, string State, string? FailureCode)?>(
            new CommandDefinition("""
            SELECT id, points, cause, state, failure_code FROM donations WHERE shop_domain = @shop AND customer_id = @customer AND idempotency_key =
                @idempotencyKey
            """, new { shop, customer, idempotencyKey }, cancellationToken: ct));
        if (existing is { } e)
        {
            if (e.Points != request.Points || e.Cause != cause)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_reused",
                    "This Idempotency-Key was used for another donation.");
            }
            return await ResultAsync(conn, shop, customer, e.Id, e.Points, e.Cause, e.State, e.FailureCode, replay: true, settings, pos,
                dataProtection, ct);
        }

        await pending.ReleaseDueForCustomerAsync(conn, shop, customer, ct); // points whose pending period is over can be given
        var id = "don_" + ConversionIds.NewId()[5..];
        var connection = settings.PosConnection(shop, dataProtection);
        if (connection is null)
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            // Due points expire first, under the balance lock the donation takes, so none of them can be given; that stands even if
            // the donation is refused.
            var locked = await ShopSettings.LoadUnderBalanceSourceAsync(conn, tx, shop, ct);
            if (locked.PosMode)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "settings_changed",
                    "The shop's points settings just changed; please try again.");
            }
            await PointsExpiry.ExpireLockedAsync(conn, tx, shop, customer, locked, clock.Now, ct);
            await tx.SaveAsync("expired", ct);
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO donations (id, shop_domain, customer_id, idempotency_key, points, cause, state, completed_at, money_value, currency)
                VALUES (@id, @shop, @customer, @idempotencyKey, @Points, @cause, 'completed', now(), round(@Points * @pointValue, 2),
                        coalesce((SELECT currency FROM shops WHERE shop_domain = @shop), ''))
                """, new { id, shop, customer, idempotencyKey, request.Points, cause, pointValue = settings.PointValue }, tx, cancellationToken: ct));
            try
            {
                await Ledger.PostAsync(conn, tx, Entry(shop, customer, id, request.Points, cause, clock.Now), new Posting(QueueForPos: false),
                    ct);
            }
            catch (InsufficientPointsException ex)
            {
                // The donation is not made; the expiry before it stands.
                await tx.RollbackAsync("expired", ct);
                await tx.CommitAsync(ct);
                return Problems.Validation("insufficient_points", "You do not have enough points.", null,
                    new Dictionary<string, object?> { ["balance"] = ex.Balance });
            }
            await tx.CommitAsync(ct);
        }
        else
        {
            // Points whose time is up expire first, and what the customer owes the POS (such an expiry on its way, a refund) is not
            // theirs to give: the POS would take it from its balance, which still holds them.
            var available = await PosAvailableAsync(conn, shop, customer, connection, clock, pos, ct);
            posSync.Notify();
            if (available is not { } points)
            {
                http.Response.Headers.RetryAfter = "30";
                return Problems.Create(StatusCodes.Status502BadGateway, "pos_unavailable",
                    "Your points balance cannot be checked right now; please try again shortly.");
            }
            if (points < request.Points)
            {
                return Problems.Validation("insufficient_points", "You do not have enough points.", null,
                    new Dictionary<string, object?> { ["balance"] = points });
            }
            // The pledge is recorded before the POS is asked, so an answer that never comes is settled later.
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO donations (id, shop_domain, customer_id, idempotency_key, points, cause, state, money_value, currency)
                VALUES (@id, @shop, @customer, @idempotencyKey, @Points, @cause, 'pending', round(@Points * @pointValue, 2),
                        coalesce((SELECT currency FROM shops WHERE shop_domain = @shop), ''))
                """, new { id, shop, customer, idempotencyKey, request.Points, cause, pointValue = settings.PointValue }, cancellationToken: ct));
            switch (await pos.DeductAsync(connection, customer.ToString(), request.Points, id, $"donation to {cause}", ct))
            {
                case PosOutcome.Applied:
                    await CompleteFromPosAsync(conn, shop, customer, id, request.Points, cause, clock.Now, ct);
                    break;
                case PosOutcome.Rejected rejected:
                    await conn.ExecuteAsync(new CommandDefinition(
                        "UPDATE donations SET state = 'failed', failure_code = @error WHERE id = @id AND state = 'pending'",
                        new { id, error = rejected.Error }, cancellationToken: ct));
                    break;
            }
        }

        var state = await conn.QuerySingleAsync<(string State, string? FailureCode)>(new CommandDefinition(
            "SELECT state, failure_code FROM donations WHERE id = @id", new { id }, cancellationToken: ct));
        LogDonation(loggers.CreateLogger(typeof(Donations)), shop, customer, request.Points, cause, state.State);
        return await ResultAsync(conn, shop, customer, id, request.Points, cause, state.State, state.FailureCode, replay: false, settings, pos,
            dataProtection, ct);
    }

    /// <summary>
    /// POS mode: expires what is due under the customer's balance lock, then answers the POS balance less what the customer owes the
    /// POS; null when the POS cannot be asked.
    /// </summary>
    private static async Task<long?> PosAvailableAsync(NpgsqlConnection conn, string shop, long customer, PosConnection connection,
        ProgramClock clock, PosClient pos, CancellationToken ct)
    {
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            var settings = await ShopSettings.LoadUnderBalanceSourceAsync(conn, tx, shop, ct);
            await PointsExpiry.ExpireLockedAsync(conn, tx, shop, customer, settings, clock.Now, ct);
            await tx.CommitAsync(ct);
        }
        long atPos;
        switch (await pos.GetBalanceAsync(connection, customer.ToString(), ct))
        {
            case PosBalance.Found found: atPos = found.Balance; break;
            case PosBalance.CustomerNotFound: atPos = 0; break;
            default: return null;
        }
        return atPos + await PosOwed.DeductionsAsync(conn, null, shop, customer, ct);
    }

    /// <param name="at">When the customer gave, in the program's time (what an inactivity period counts from); null: when written.</param>
    internal static PointsEntry Entry(string shop, long customer, string id, long points, string cause, DateTimeOffset? at) =>
        new(shop, customer, -points, "donation", id, $"Donation to {cause}", "customer", customer.ToString(), OccurredAt: at);

    internal static async Task CompleteFromPosAsync(NpgsqlConnection conn, string shop, long customer, string id, long points, string cause,
        DateTimeOffset? at, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        await Ledger.PostAsync(conn, tx, Entry(shop, customer, id, points, cause, at), new Posting(QueueForPos: false, PosAuthoritative: true),
            ct);
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE donations SET state = 'completed', completed_at = now() WHERE id = @id AND state = 'pending'", new { id }, tx,
            cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    private static async Task<Results<Created<Donated>, Ok<Donated>, Accepted<Donated>, ProblemHttpResult>> ResultAsync(NpgsqlConnection conn,
        string shop, long customer, string id, long points, string cause, string state, string? failureCode, bool replay, ShopSettings settings,
        PosClient pos, IDataProtectionProvider dataProtection, CancellationToken ct)
    {
        if (state == "failed")
        {
            return failureCode == "insufficient_points"
                ? Problems.Validation("insufficient_points", "You do not have enough points.")
                : Problems.Create(StatusCodes.Status502BadGateway, failureCode ?? "donation_failed",
                    "The donation could not be made; no points were deducted.");
        }
        var balance = (await CustomerBalance.ReadAsync(conn, shop, customer, settings, pos, dataProtection, ct)).Balance;
        var (value, currency) = await conn.QuerySingleAsync<(decimal, string)>(new CommandDefinition(
            "SELECT money_value, currency FROM donations WHERE id = @id", new { id }, cancellationToken: ct));
        var body = new Donated(id, points, value, currency, cause, state, balance);
        if (state == "pending") return TypedResults.Accepted((string?)null, body);
        return replay ? TypedResults.Ok(body) : TypedResults.Created((string?)null, body);
    }

    private static async Task<Results<Ok<IReadOnlyList<CauseTotal>>, FileContentHttpResult, ProblemHttpResult>> TotalsAsync(HttpContext http,
        NpgsqlDataSource db, DateTimeOffset? from, DateTimeOffset? to, string? format, CancellationToken ct)
    {
        if (from > to) return Problems.Validation("invalid_period", "from must be before to.");
        if (format is not (null or "json" or "csv")) return Problems.Validation("invalid_format", "format is json or csv.");
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<CauseTotal> totals = (await conn.QueryAsync<CauseTotal>(new CommandDefinition("""
            SELECT cause, count(*) AS donations, sum(points)::bigint AS points, sum(money_value) AS value, currency,
                   count(DISTINCT customer_id) AS customers
            FROM donations
            WHERE shop_domain = @shop AND state = 'completed'
              AND (@from::timestamptz IS NULL OR completed_at >= @from) AND (@to::timestamptz IS NULL OR completed_at < @to)
            GROUP BY cause, currency ORDER BY sum(points) DESC -- a shop that changed currency gets a row per currency, never a mixed sum
            """, new { shop = http.User.Shop(), from, to }, cancellationToken: ct))).ToList();
        if (format != "csv") return TypedResults.Ok(totals);
        var csv = new System.Text.StringBuilder("cause,donations,points,value,currency,customers\n");
        foreach (var t in totals)
        {
            csv.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"{CsvText.Field(t.Cause)},{t.Donations},{t.Points},{t.Value:0.00},{t.Currency},{t.Customers}\n");
        }
        return TypedResults.File(System.Text.Encoding.UTF8.GetBytes(csv.ToString()), "text/csv", "donations-by-cause.csv");
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Customer {CustomerId} of {Shop} donated {Points} points to {Cause}: {State}")]
    private static partial void LogDonation(ILogger logger, string shop, long customerId, long points, string cause, string state);
}
