using Dapper;
using Loyalty.Pos;
using Loyalty.ShopifyApp.Infrastructure.Http;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.Settings;

/// <summary><c>GET</c>/<c>PUT /api/admin/settings</c>. The POS API key is write-only: stored encrypted, never returned.</summary>
public static partial class SettingsEndpoints
{
    public sealed record SettingsView(
        decimal EarnRate, string EarnBasis, bool TestOrdersEarn, decimal PointValue, long MinConversion, long ConversionStep,
        long DailyConversionLimit, int CouponValidityDays, long FeedbackBonus, int FeedbackDailyLimit, string NegativeBalancePolicy,
        string BalanceSource, string? PosBaseUrl, bool PosApiKeySet);

    /// <summary>Fields left out keep their current value. <c>posApiKey</c>: a new key, or "" to remove it.</summary>
    public sealed record SettingsUpdate(
        decimal? EarnRate, string? EarnBasis, bool? TestOrdersEarn, decimal? PointValue, long? MinConversion, long? ConversionStep,
        long? DailyConversionLimit, int? CouponValidityDays, long? FeedbackBonus, int? FeedbackDailyLimit, string? NegativeBalancePolicy,
        string? BalanceSource, string? PosBaseUrl, string? PosApiKey);

    /// <summary>The connection to try: fields left out are taken from the saved settings, so it can be tried before saving.</summary>
    public sealed record PosTestRequest(string? PosBaseUrl, string? PosApiKey);

    /// <summary><c>ok</c> true when the POS answered with the key accepted; otherwise <c>error</c> says what to fix.</summary>
    public sealed record PosTestResult(bool Ok, string? Error, string Detail, long ElapsedMs);

    public static RouteGroupBuilder MapSettings(this RouteGroupBuilder admin)
    {
        admin.MapGet("/settings", GetAsync);
        admin.MapPut("/settings", PutAsync);
        admin.MapPost("/settings/pos/test", TestPosAsync);
        return admin;
    }

    private static SettingsView View(ShopSettings s) => new(s.EarnRate, s.EarnBasis, s.TestOrdersEarn, s.PointValue, s.MinConversion,
        s.ConversionStep, s.DailyConversionLimit, s.CouponValidityDays, s.FeedbackBonus, s.FeedbackDailyLimit, s.NegativeBalancePolicy,
        s.BalanceSource, s.PosBaseUrl, s.PosApiKeyProtected is not null);

    private static async Task<SettingsView> GetAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return View(await ShopSettings.LoadAsync(conn, null, http.User.Shop(), ct));
    }

    private static async Task<Results<Ok<SettingsView>, ProblemHttpResult>> PutAsync(
        HttpContext http, SettingsUpdate update, NpgsqlDataSource db, IDataProtectionProvider dataProtection,
        IOptions<PosClientOptions> pos, IOptions<SettingsOptions> settingsOptions, ILoggerFactory loggers, CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var current = await ShopSettings.LoadAsync(conn, tx, shop, ct);

        var next = current with
        {
            EarnRate = update.EarnRate ?? current.EarnRate,
            EarnBasis = update.EarnBasis ?? current.EarnBasis,
            TestOrdersEarn = update.TestOrdersEarn ?? current.TestOrdersEarn,
            PointValue = update.PointValue ?? current.PointValue,
            MinConversion = update.MinConversion ?? current.MinConversion,
            ConversionStep = update.ConversionStep ?? current.ConversionStep,
            DailyConversionLimit = update.DailyConversionLimit ?? current.DailyConversionLimit,
            CouponValidityDays = update.CouponValidityDays ?? current.CouponValidityDays,
            FeedbackBonus = update.FeedbackBonus ?? current.FeedbackBonus,
            FeedbackDailyLimit = update.FeedbackDailyLimit ?? current.FeedbackDailyLimit,
            NegativeBalancePolicy = update.NegativeBalancePolicy ?? current.NegativeBalancePolicy,
            BalanceSource = update.BalanceSource ?? current.BalanceSource,
            PosBaseUrl = update.PosBaseUrl is null ? current.PosBaseUrl : update.PosBaseUrl.Length == 0 ? null : update.PosBaseUrl.Trim(),
            PosApiKeyProtected = update.PosApiKey is null ? current.PosApiKeyProtected
                : update.PosApiKey.Length == 0 ? null : ShopSettings.PosKeyProtector(dataProtection).Protect(update.PosApiKey),
        };

        var errors = Validate(next, update, pos.Value, settingsOptions.Value);
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_settings", "Some settings are not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }

        // Conversions finish against the balance source they started with; switching the source (or the POS) under one
        // could compensate a deduction that stands. Conversions take this lock shared while they claim their slot.
        if (next.BalanceSource != current.BalanceSource || next.PosBaseUrl != current.PosBaseUrl)
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))",
                new { key = BalanceSourceLock(shop) }, tx, cancellationToken: ct));
            var inFlight = await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
                SELECT count(*) FROM conversions
                WHERE shop_domain = @shop AND (state IN ('pending', 'coupon_created', 'settling', 'compensating', 'needs_review')
                                               OR coupon_status = 'cancelling')
                """, new { shop }, tx, cancellationToken: ct));
            if (inFlight > 0)
            {
                return Problems.Create(StatusCodes.Status409Conflict, "conversions_in_flight",
                    $"{inFlight} conversion(s) are still being processed or wait for review against the current balance source. "
                    + "Let them finish (or resolve them under Needs review), then switch.", null,
                    new Dictionary<string, object?> { ["inFlight"] = inFlight });
            }
        }

        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO shop_settings (shop_domain, earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step,
                daily_conversion_limit, coupon_validity_days, feedback_bonus, feedback_daily_limit, negative_balance_policy, balance_source,
                pos_base_url, pos_api_key_protected, updated_at)
            VALUES (@shop, @EarnRate, @EarnBasis, @TestOrdersEarn, @PointValue, @MinConversion, @ConversionStep, @DailyConversionLimit,
                @CouponValidityDays, @FeedbackBonus, @FeedbackDailyLimit, @NegativeBalancePolicy, @BalanceSource, @PosBaseUrl,
                @PosApiKeyProtected, now())
            ON CONFLICT (shop_domain) DO UPDATE SET
                earn_rate = excluded.earn_rate, earn_basis = excluded.earn_basis, test_orders_earn = excluded.test_orders_earn,
                point_value = excluded.point_value, min_conversion = excluded.min_conversion, conversion_step = excluded.conversion_step,
                daily_conversion_limit = excluded.daily_conversion_limit, coupon_validity_days = excluded.coupon_validity_days,
                feedback_bonus = excluded.feedback_bonus, feedback_daily_limit = excluded.feedback_daily_limit,
                negative_balance_policy = excluded.negative_balance_policy, balance_source = excluded.balance_source,
                pos_base_url = excluded.pos_base_url, pos_api_key_protected = excluded.pos_api_key_protected, updated_at = now()
            """, new
        {
            shop, next.EarnRate, next.EarnBasis, next.TestOrdersEarn, next.PointValue, next.MinConversion, next.ConversionStep,
            next.DailyConversionLimit, next.CouponValidityDays, next.FeedbackBonus, next.FeedbackDailyLimit, next.NegativeBalancePolicy,
            next.BalanceSource, next.PosBaseUrl, next.PosApiKeyProtected,
        }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        LogSaved(loggers.CreateLogger(typeof(SettingsEndpoints)), shop, next.BalanceSource, next.EarnRate);
        return TypedResults.Ok(View(next));
    }

    /// <summary>
    /// Looks up a reference that cannot exist (<c>GET /transactions/loyalty:connection-test</c>): a 404 proves the
    /// URL reaches a POS that accepts the key, without reading or changing any customer's points.
    /// </summary>
    private static async Task<Results<Ok<PosTestResult>, ProblemHttpResult>> TestPosAsync(
        HttpContext http, PosTestRequest? request, NpgsqlDataSource db, PosClient posClient, IDataProtectionProvider dataProtection,
        IOptions<PosClientOptions> pos, IOptions<SettingsOptions> settingsOptions, TimeProvider clock, ILoggerFactory loggers, CancellationToken ct)
    {
        var shop = http.User.Shop();
        ShopSettings current;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            current = await ShopSettings.LoadAsync(conn, null, shop, ct);
        }
        var candidate = current with
        {
            PosBaseUrl = string.IsNullOrWhiteSpace(request?.PosBaseUrl) ? current.PosBaseUrl : request.PosBaseUrl.Trim(),
            PosApiKeyProtected = string.IsNullOrEmpty(request?.PosApiKey) ? current.PosApiKeyProtected
                : ShopSettings.PosKeyProtector(dataProtection).Protect(request.PosApiKey),
            BalanceSource = "pos",
        };
        var errors = Validate(candidate, new SettingsUpdate(null, null, null, null, null, null, null, null, null, null, null, null, null,
            request?.PosApiKey), pos.Value, settingsOptions.Value);
        var connectionErrors = errors.Where(e => e.Key is "posBaseUrl" or "posApiKey").ToDictionary();
        if (connectionErrors.Count > 0)
        {
            return Problems.Validation("invalid_pos_connection", "The POS connection is incomplete or not allowed.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = connectionErrors });
        }

        var started = clock.GetTimestamp();
        var lookup = await posClient.FindTransactionAsync(candidate.PosConnection(dataProtection)!, "loyalty:connection-test", ct);
        var elapsed = (long)clock.GetElapsedTime(started).TotalMilliseconds;
        // Every failure short of the POS refusing the key gets one answer: telling a refused connection from a TLS error
        // or a timeout would make this endpoint a port scanner. The reason is in the log for the operator.
        var (result, reason) = lookup switch
        {
            PosLookup.NotFound or PosLookup.Found => (new PosTestResult(true, null, "The POS answered and accepted the API key.", elapsed), "ok"),
            PosLookup.Unavailable { Status: 401 or 403 } u => (new PosTestResult(false, "pos_key_rejected", "The POS refused the API key.", elapsed), u.Reason),
            PosLookup.Unavailable u => (new PosTestResult(false, "pos_unreachable",
                "The POS could not be reached or did not answer as the POS API does. Check the URL, and that the POS accepts connections.", elapsed), u.Reason),
            _ => throw new InvalidOperationException("Unexpected lookup result."),
        };
        LogPosTested(loggers.CreateLogger(typeof(SettingsEndpoints)), shop, result.Ok, result.Error, reason);
        return TypedResults.Ok(result);
    }

    private static Dictionary<string, string[]> Validate(ShopSettings s, SettingsUpdate update, PosClientOptions pos, SettingsOptions options)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];

        if (s.EarnRate is < 0 or > 1000) Add("earnRate", "Must be between 0 (earning off) and 1000 points per unit of currency.");
        if (decimal.Round(s.EarnRate, 4) != s.EarnRate) Add("earnRate", "At most 4 decimal places.");
        if (s.EarnBasis is not ("subtotal" or "total")) Add("earnBasis", "Must be 'subtotal' (after discounts, without shipping and tax) or 'total'.");
        if (s.PointValue is <= 0 or > 1000) Add("pointValue", "Must be more than 0 and at most 1000 (shop currency per point).");
        if (decimal.Round(s.PointValue, 4) != s.PointValue) Add("pointValue", "At most 4 decimal places.");
        if (s.ConversionStep is < 1 or > 1_000_000) Add("conversionStep", "Must be between 1 and 1,000,000 points.");
        if (s.MinConversion is < 1 or > 1_000_000) Add("minConversion", "Must be between 1 and 1,000,000 points.");
        else if (s.ConversionStep >= 1 && s.MinConversion % s.ConversionStep != 0) Add("minConversion", "Must be a multiple of conversionStep.");
        if (s.DailyConversionLimit < s.MinConversion || s.DailyConversionLimit > 100_000_000)
            Add("dailyConversionLimit", "Must be at least minConversion and at most 100,000,000.");
        if (s.CouponValidityDays is < 1 or > 3650) Add("couponValidityDays", "Must be between 1 and 3650 days.");
        if (s.FeedbackBonus is < 0 or > 100_000) Add("feedbackBonus", "Must be between 0 and 100,000 points.");
        if (s.FeedbackDailyLimit is < 0 or > 100) Add("feedbackDailyLimit", "Must be between 0 and 100 rewarded feedbacks per day.");
        if (s.NegativeBalancePolicy is not ("allow_negative" or "floor_at_zero"))
            Add("negativeBalancePolicy", "Must be 'allow_negative' (clawbacks may go below zero) or 'floor_at_zero'.");
        if (s.BalanceSource is not ("ledger" or "pos")) Add("balanceSource", "Must be 'ledger' or 'pos'.");

        if (update.PosApiKey is { Length: > 500 }) Add("posApiKey", "At most 500 characters.");
        if (s.PosBaseUrl is not null && NetworkGuard.UrlError(s.PosBaseUrl, options.AllowInsecurePosUrls, pos.AllowPrivateNetworks) is { } urlError)
            Add("posBaseUrl", urlError);
        if (s.BalanceSource == "pos")
        {
            if (s.PosBaseUrl is null) Add("posBaseUrl", "Required when balanceSource is 'pos'.");
            if (s.PosApiKeyProtected is null) Add("posApiKey", "Required when balanceSource is 'pos'.");
        }
        return errors;
    }

    /// <summary>The advisory lock a balance source switch takes exclusively and a conversion's claim takes shared.</summary>
    public static string BalanceSourceLock(string shop) => $"balance-source:{shop}";

    [LoggerMessage(Level = LogLevel.Information, Message = "POS connection test for {Shop}: ok={Ok} {Error} ({Reason})")]
    private static partial void LogPosTested(ILogger logger, string shop, bool ok, string? error, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Saved the settings of {Shop}: balance source {BalanceSource}, earn rate {EarnRate}")]
    private static partial void LogSaved(ILogger logger, string shop, string balanceSource, decimal earnRate);
}

/// <summary>Section <c>Settings</c>.</summary>
public sealed class SettingsOptions
{
    /// <summary>Accept http:// POS URLs (the local sandbox and tests); production POS URLs must be https.</summary>
    public bool AllowInsecurePosUrls { get; set; }
}
