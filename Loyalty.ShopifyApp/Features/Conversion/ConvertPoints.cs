using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;
using Microsoft.AspNetCore.Mvc;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// <c>POST /proxy/api/conversions { points }</c> with an <c>Idempotency-Key</c>: a logged-in customer turns points
/// into a discount code. 201 with the code once the points are deducted; 202 while an outcome is being settled
/// (poll <c>GET /proxy/api/conversions/{id}</c>); 422/409/503 with a stable code otherwise.
/// </summary>
public static partial class ConvertPoints
{
    public sealed record ConvertRequest(long Points);

    public sealed record Converted(string ConversionId, string Code, decimal Amount, string Currency, long Points, DateTimeOffset ExpiresAt,
        long Balance);

    public sealed record InProgress(string ConversionId, string Status);

    /// <summary>The most points one conversion may ask for: the highest <c>dailyConversionLimit</c> a shop can set.</summary>
    public const long MaxPoints = 100_000_000;

    public static RouteGroupBuilder MapConvertPoints(this RouteGroupBuilder proxy)
    {
        proxy.MapPost("/api/conversions", ConvertAsync).RequireLoggedInCustomer().DeclareOutcomeAnswers()
            .ProblemCodes(StatusCodes.Status400BadRequest, "idempotency_key_required")
            .ProblemCodes(StatusCodes.Status409Conflict, "idempotency_key_reused", "settings_changed", "conversion_in_progress")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_points", "below_minimum", "not_a_multiple", "daily_limit_exceeded")
            .RequestExample(new ConvertRequest(500))
            .ResponseExample(StatusCodes.Status201Created, new Converted("conv_7hQ2mX9kLp3vR8tY1wZ4nB6c", "7001-K7Q2MX-500", 500m, "JPY", 500,
                new DateTimeOffset(2025, 9, 1, 0, 0, 0, TimeSpan.Zero), 750));
        proxy.MapGet("/api/conversions/{id}", GetAsync).RequireLoggedInCustomer().DeclareOutcomeAnswers()
            .ProblemCodes(StatusCodes.Status404NotFound, "conversion_not_found");
        return proxy;
    }

    private static async Task<Results<Created<Converted>, Ok<Converted>, Accepted<InProgress>, ProblemHttpResult>> ConvertAsync(
        HttpContext http, ConvertRequest request, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        NpgsqlDataSource db, ConversionSaga saga, PosClient pos, IDataProtectionProvider dataProtection, IOptions<ConversionOptions> options,
        PendingRelease pending, PointsExpiry expiry, ProgramClock clock, PosSyncTrigger posSync, CancellationToken ct)
    {
        if (!IdempotencyKey.IsValid(idempotencyKey, 100)) return IdempotencyKey.Required(100);
        if (request.Points > MaxPoints)
        {
            // No shop's daily limit allows more, and the sums below (today's total plus this) must not overflow.
            const string Rule = "At most 100,000,000 points can be converted at once.";
            return Problems.Validation("invalid_points", Rule, null,
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["points"] = [Rule] } });
        }
        var (shop, customer) = (http.Proxy().Shop, http.Customer());

        ConversionRow? existing;
        ShopSettings settings;
        List<long> due;
        long expired = 0;
        var releaseNow = clock.Now;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            // One round trip: an earlier request with this key, the shop's settings, and the customer's orders whose pending period is over.
            await using (var read = await conn.QueryMultipleAsync(new CommandDefinition($"""
                SELECT {ConversionRow.Columns} FROM conversions WHERE shop_domain = @shop AND customer_id = @customer AND idempotency_key =
                    @idempotencyKey;
                {ShopSettings.Sql};
                {PendingRelease.DueForCustomerSql}
                """, new { shop, customer, customerId = customer, idempotencyKey, now = releaseNow }, cancellationToken: ct)))
            {
                existing = await read.ReadSingleOrDefaultAsync<ConversionRow>();
                settings = await read.ReadSingleOrDefaultAsync<ShopSettings>() ?? ShopSettings.Defaults;
                due = (await read.ReadAsync<long>()).ToList();
            }
            if (existing is null)
            {
                await pending.ReleaseDueForCustomerAsync(conn, shop, customer, due, releaseNow, ct); // points whose period is over count
                expired = await expiry.ExpireDueForCustomerAsync(conn, shop, customer, notifyPos: false, settings, ct); // nor those whose time is up
            }
        }
        if (existing is not null)
        {
            if (existing.Points != request.Points)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_reused",
                    "This Idempotency-Key was used for another amount of points.");
            }
            return await ResultAsync(http, existing, replay: true, db, pos, dataProtection, settings, ct);
        }

        if (request.Points < settings.MinConversion)
        {
            return Problems.Validation("below_minimum", $"Convert at least {settings.MinConversion} points.", null,
                new Dictionary<string, object?> { ["minimum"] = settings.MinConversion });
        }
        if (request.Points % settings.ConversionStep != 0)
        {
            return Problems.Validation("not_a_multiple", $"Convert points in steps of {settings.ConversionStep}.", null,
                new Dictionary<string, object?> { ["step"] = settings.ConversionStep });
        }

        // In POS mode the balance is the POS's, read now; if the POS cannot answer, nothing has been done yet.
        long? posBalance = null;
        if (settings.PosConnection(shop, dataProtection) is { } connection)
        {
            switch (await pos.GetBalanceAsync(connection, customer.ToString(), ct))
            {
                case PosBalance.Found found: posBalance = found.Balance; break;
                case PosBalance.CustomerNotFound: posBalance = 0; break;
                default:
                    http.Response.Headers.RetryAfter = "30";
                    return Problems.Unavailable("pos_unavailable", "Your points balance cannot be checked right now; please try again shortly.");
            }
        }

        // Claim the customer's single in-flight slot first, then check the rules and the balance in the same
        // transaction: a conversion that completes meanwhile cannot slip between the balance check and the claim.
        ConversionRow created;
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            // The balance source and POS decided above must still be the shop's: a switch of either waits for this claim, or this
            // sees it (the deduction below uses these settings). In the same round trip, run in order after the locks: the same key sent
            // twice at once (the second waited for the first's claim, and answers with its result), the shop's currency, and the
            // customer's tier row and whether the shop has tiers, for the conversion's value below. (The tier is read before the expiry below
            // may wait for the balance row: a refund committing a tier's loss at that moment is not seen, as in a shop without expiry.)
            (string? Source, string? PosBaseUrl, string? PosApiKeyProtected)? now;
            ConversionRow? raced;
            string? currency;
            Tiers.CustomerTier? tierRow;
            bool anyTiers;
            await using (var claim = await conn.QueryMultipleAsync(new CommandDefinition($"""
                SELECT pg_advisory_xact_lock(hashtextextended(@key, 0));
                SELECT pg_advisory_xact_lock_shared(hashtextextended(@sourceKey, 0));
                SELECT balance_source, pos_base_url, pos_api_key_protected FROM shop_settings WHERE shop_domain = @shop;
                SELECT {ConversionRow.Columns} FROM conversions WHERE shop_domain = @shop AND customer_id = @customer AND idempotency_key =
                    @idempotencyKey;
                SELECT currency FROM shops WHERE shop_domain = @shop;
                {Tiers.TierProgram.LookupSql}
                """, new { key = $"conversion:{shop}:{customer}", sourceKey = SettingsEndpoints.BalanceSourceLock(shop), shop, customer,
                    idempotencyKey }, tx, cancellationToken: ct)))
            {
                await claim.ReadAsync();
                await claim.ReadAsync();
                now = await claim.ReadSingleOrDefaultAsync<(string?, string?, string?)?>();
                raced = await claim.ReadSingleOrDefaultAsync<ConversionRow>();
                currency = await claim.ReadSingleOrDefaultAsync<string?>();
                tierRow = await claim.ReadSingleOrDefaultAsync<Tiers.CustomerTier>();
                anyTiers = await claim.ReadSingleAsync<bool>();
            }
            if ((now?.Source ?? BalanceSources.Ledger) != settings.BalanceSource || now?.PosBaseUrl != settings.PosBaseUrl
                || now?.PosApiKeyProtected != settings.PosApiKeyProtected)
            {
                await tx.RollbackAsync(ct);
                return Problems.Create(StatusCodes.Status409Conflict, "settings_changed",
                    "The shop's points settings just changed; please try again.");
            }
            // Points whose time is up expire here, under the same locks and before this conversion is counted as held, so they cannot
            // be spent: in POS mode the expiry is a deduction on its way to the POS, which the balance below counts.
            expired += await PointsExpiry.ExpireLockedAsync(conn, tx, shop, customer, settings, clock.Now, ct);
            if (raced is not null)
            {
                await tx.RollbackAsync(ct);
                return raced.Points != request.Points
                    ? Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_reused",
                        "This Idempotency-Key was used for another amount of points.")
                    : await ResultAsync(http, raced, replay: true, db, pos, dataProtection, settings, ct);
            }
            // A member's tier may make their points worth more (a better conversion value), as the tier is when they convert; the bonus
            // is rounded down to the currency's smallest unit, so rounding never adds to it.
            var factor = await Tiers.TierProgram.ConversionFactorAsync(conn, tx, shop, customer, clock.Now, tierRow, anyTiers, ct);
            var amount = factor == 1m ? decimal.Round(request.Points * settings.PointValue, 2)
                : Tiers.TierProgram.RoundDown(request.Points * settings.PointValue * factor, currency);
            // One round trip, run in order: the claim, what was converted today besides it, and the customer's balance row made sure
            // of and locked, so a clawback being posted now is either seen here or sees this conversion; in POS mode then what the
            // customer owes the POS, read under that lock.
            var id = ConversionIds.NewId();
            long convertedToday, ledgerBalance, owed = 0;
            try
            {
                await using var claimed = await conn.QueryMultipleAsync(new CommandDefinition($"""
                    INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                             expires_at, attempts, locked_until, lease_token)
                    VALUES (@id, @shop, @customer, @idempotencyKey, @Points, @amount, @currency, @source, 'pending', @code,
                            now() + make_interval(days => @days), 1, now() + make_interval(secs => @lease), gen_random_uuid())
                    RETURNING {ConversionRow.Columns};
                    {ConvertedTodaySql};
                    INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, @customer) ON CONFLICT DO NOTHING;
                    SELECT balance FROM point_balances WHERE shop_domain = @shop AND customer_id = @customer FOR UPDATE;
                    {(posBalance is null ? "" : PosOwed.DeductionsSql)}
                    """, new
                {
                    id, except = id, shop, customer, customerId = customer, idempotencyKey, request.Points, amount, currency = currency ?? "",
                    source = posBalance is null ? BalanceSources.Ledger : BalanceSources.Pos, code = ConversionIds.NewCode(customer, amount),
                    days = settings.CouponValidityDays, lease = (double)options.Value.LeaseSeconds,
                }, tx, cancellationToken: ct));
                created = await claimed.ReadSingleAsync<ConversionRow>();
                convertedToday = await claimed.ReadSingleAsync<long>();
                ledgerBalance = await claimed.ReadSingleAsync<long>();
                if (posBalance is not null) owed = await claimed.ReadSingleAsync<long>();
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == "conversions_one_in_flight")
            {
                return Problems.Create(StatusCodes.Status409Conflict, "conversion_in_progress",
                    "Another conversion of yours is being processed; please wait a moment.");
            }
            if (convertedToday + request.Points > settings.DailyConversionLimit)
            {
                await tx.RollbackAsync(ct);
                return Problems.Validation("daily_limit_exceeded", "That is more than you can convert today.",
                    $"{convertedToday} of {settings.DailyConversionLimit} points already converted today.",
                    new Dictionary<string, object?> { ["remainingToday"] = Math.Max(0, settings.DailyConversionLimit - convertedToday) });
            }
            // In POS mode, points the ledger has already taken back but the POS does not have yet are not the customer's to spend.
            var balance = posBalance is { } atPos ? atPos + owed : ledgerBalance;
            if (balance < request.Points)
            {
                await tx.RollbackAsync(ct);
                return Problems.Validation("insufficient_points", "You do not have enough points.", null,
                    new Dictionary<string, object?> { ["balance"] = balance });
            }
            await tx.CommitAsync(ct);
        }
        if (expired > 0 && settings.PosMode) posSync.Notify();

        // The settings read above serve the drive too (the POS connection for the deduction).
        var driven = await saga.DriveForCustomerAsync(created, settings, ct);
        return await ResultAsync(http, driven, replay: false, db, pos, dataProtection, settings, ct);
    }

    /// <summary>Points the customer converted today (the shop's day), failed conversions aside, <paramref name="except"/> aside.</summary>
    public static Task<long> ConvertedTodayAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer, string? except,
        CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition(ConvertedTodaySql, new { shop, customer, except }, tx, cancellationToken: ct));

    /// <summary><see cref="ConvertedTodayAsync"/>'s statement, on <c>@shop</c>, <c>@customer</c> and <c>@except</c>.</summary>
    private const string ConvertedTodaySql = """
        SELECT coalesce(sum(c.points), 0) FROM conversions c, shops s
        WHERE c.shop_domain = @shop AND s.shop_domain = c.shop_domain AND c.customer_id = @customer AND c.state <> 'failed'
          AND c.id IS DISTINCT FROM @except
          AND c.created_at >= date_trunc('day', now() AT TIME ZONE coalesce(s.iana_timezone, 'UTC')) AT TIME ZONE coalesce(s.iana_timezone, 'UTC')
        """;
}
