using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Features.Settings;

/// <summary><c>GET</c>/<c>PUT /api/admin/settings</c>. The POS API key is write-only: stored encrypted, never returned.</summary>
public static partial class SettingsEndpoints
{
    public sealed record SettingsView(
        decimal EarnRate, string EarnBasis, bool TestOrdersEarn, decimal PointValue, long MinConversion, long ConversionStep,
        long DailyConversionLimit, int CouponValidityDays, long FeedbackBonus, int FeedbackDailyLimit, string NegativeBalancePolicy,
        string BalanceSource, string? PosBaseUrl, bool PosApiKeySet, int PendingDays, string ExpiryMode, int ExpiryMonths, int ExpiryNoticeDays);

    /// <summary>Fields left out keep their current value. <c>posApiKey</c>: a new key, or "" to remove it.</summary>
    public sealed record SettingsUpdate(
        decimal? EarnRate, string? EarnBasis, bool? TestOrdersEarn, decimal? PointValue, long? MinConversion, long? ConversionStep,
        long? DailyConversionLimit, int? CouponValidityDays, long? FeedbackBonus, int? FeedbackDailyLimit, string? NegativeBalancePolicy,
        string? BalanceSource, string? PosBaseUrl, string? PosApiKey, int? PendingDays = null, string? ExpiryMode = null,
        int? ExpiryMonths = null, int? ExpiryNoticeDays = null);

    public static RouteGroupBuilder MapSettings(this RouteGroupBuilder admin)
    {
        var example = new SettingsView(1m, "subtotal", false, 1m, 500, 100, 5000, 90, 10, 1, "allow_negative", BalanceSources.Ledger, null, false, 0,
            ExpiryModes.Never, 12, 14);
        admin.MapGet("/settings", GetAsync).ResponseExample(StatusCodes.Status200OK, example);
        admin.MapPut("/settings", PutAsync)
            .ProblemCodes(StatusCodes.Status409Conflict, "conversions_in_flight")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_settings", "pos_api_key_required")
            .RequestExample(new SettingsUpdate(1.5m, null, null, null, 1000, null, null, null, null, null, null, null, null, null))
            .ResponseExample(StatusCodes.Status200OK, example with { EarnRate = 1.5m, MinConversion = 1000 });
        admin.MapPost("/settings/pos/test", TestPosConnection.HandleAsync)
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_pos_connection")
            .RequestExample(new TestPosConnection.PosTestRequest("https://pos.example.com/api", "pos_live_key"))
            .ResponseExample(StatusCodes.Status200OK, new TestPosConnection.PosTestResult(true, null, "The POS answered.", 184));
        return admin;
    }

    private static SettingsView View(ShopSettings s) => new(s.EarnRate, s.EarnBasis, s.TestOrdersEarn, s.PointValue, s.MinConversion,
        s.ConversionStep, s.DailyConversionLimit, s.CouponValidityDays, s.FeedbackBonus, s.FeedbackDailyLimit, s.NegativeBalancePolicy,
        s.BalanceSource, s.PosBaseUrl, s.PosApiKeyProtected is not null, s.PendingDays, s.ExpiryMode, s.ExpiryMonths,
        s.ExpiryNoticeDays);

    private static async Task<SettingsView> GetAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return View(await ShopSettings.LoadAsync(conn, null, http.User.Shop(), ct));
    }

    private static async Task<Results<Ok<SettingsView>, ProblemHttpResult>> PutAsync(
        HttpContext http, SettingsUpdate update, NpgsqlDataSource db, IDataProtectionProvider dataProtection,
        IOptions<PosClientOptions> pos, IOptions<NetworkGuardOptions> guard, IOptions<SettingsOptions> settingsOptions, ProgramClock clock,
        ILoggerFactory loggers, CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // One save at a time per shop: a save writes every field, so two partial saves read side by side would each
        // write back the other's old value (an earn rate undone by an unrelated change).
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))",
            new { key = $"settings:{shop}" }, tx, cancellationToken: ct));
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
            PendingDays = update.PendingDays ?? current.PendingDays,
            ExpiryMode = update.ExpiryMode ?? current.ExpiryMode,
            ExpiryMonths = update.ExpiryMonths ?? current.ExpiryMonths,
            ExpiryNoticeDays = update.ExpiryNoticeDays ?? current.ExpiryNoticeDays,
        };
        // A new or shorter expiry rule counts from now for every point earned before it: turning it on, changing it or shortening it
        // never takes points at once. A longer period keeps the date, so it does not renew points already due.
        if (next.ExpiryMode != current.ExpiryMode || next.ExpiryMonths < current.ExpiryMonths) next = next with { ExpirySince = clock.Now };

        var errors = Validate(next, update, pos.Value, guard.Value, settingsOptions.Value);
        var retypeKey = SavedKeyWouldMove(current, next.PosBaseUrl, keepsSavedKey: update.PosApiKey is null);
        if (retypeKey) errors["posApiKey"] = [.. errors.GetValueOrDefault("posApiKey", []), RetypeKeyMessage];
        if (errors.Count > 0)
        {
            return retypeKey && errors.Count == 1
                ? RetypeKeyProblem(errors)
                : Problems.Validation("invalid_settings", "Some settings are not valid.", "See errors for each field.",
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
                pos_base_url, pos_api_key_protected, pending_days, expiry_mode, expiry_months, expiry_since, expiry_notice_days, updated_at)
            VALUES (@shop, @EarnRate, @EarnBasis, @TestOrdersEarn, @PointValue, @MinConversion, @ConversionStep, @DailyConversionLimit,
                @CouponValidityDays, @FeedbackBonus, @FeedbackDailyLimit, @NegativeBalancePolicy, @BalanceSource, @PosBaseUrl,
                @PosApiKeyProtected, @PendingDays, @ExpiryMode, @ExpiryMonths, @ExpirySince, @ExpiryNoticeDays, now())
            ON CONFLICT (shop_domain) DO UPDATE SET
                earn_rate = excluded.earn_rate, earn_basis = excluded.earn_basis, test_orders_earn = excluded.test_orders_earn,
                point_value = excluded.point_value, min_conversion = excluded.min_conversion, conversion_step = excluded.conversion_step,
                daily_conversion_limit = excluded.daily_conversion_limit, coupon_validity_days = excluded.coupon_validity_days,
                feedback_bonus = excluded.feedback_bonus, feedback_daily_limit = excluded.feedback_daily_limit,
                negative_balance_policy = excluded.negative_balance_policy, balance_source = excluded.balance_source,
                pos_base_url = excluded.pos_base_url, pos_api_key_protected = excluded.pos_api_key_protected,
                pending_days = excluded.pending_days, expiry_mode = excluded.expiry_mode, expiry_months = excluded.expiry_months,
                expiry_since = excluded.expiry_since, expiry_notice_days = excluded.expiry_notice_days, updated_at = now()
            """, new
        {
            shop, next.EarnRate, next.EarnBasis, next.TestOrdersEarn, next.PointValue, next.MinConversion, next.ConversionStep,
            next.DailyConversionLimit, next.CouponValidityDays, next.FeedbackBonus, next.FeedbackDailyLimit, next.NegativeBalancePolicy,
            next.BalanceSource, next.PosBaseUrl, next.PosApiKeyProtected, next.PendingDays, next.ExpiryMode, next.ExpiryMonths,
            next.ExpirySince, next.ExpiryNoticeDays,
        }, tx, cancellationToken: ct));
        if (next.PosBaseUrl != current.PosBaseUrl || next.PosApiKeyProtected != current.PosApiKeyProtected)
        {
            await PosSync.SharedPosCircuits.ForgetShopAsync(conn, tx, shop, ct); // another POS: the old one's breaks hold it back nowhere
        }
        await tx.CommitAsync(ct);
        LogSaved(loggers.CreateLogger(typeof(SettingsEndpoints)), shop, next.BalanceSource, next.EarnRate);
        return TypedResults.Ok(View(next));
    }

    internal static Dictionary<string, string[]> Validate(ShopSettings s, SettingsUpdate update, PosClientOptions pos, NetworkGuardOptions guard,
        SettingsOptions options)
    {
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];

        if (s.EarnRate is < 0 or > 1000) Add("earnRate", "Must be between 0 (earning off) and 1000 points per unit of currency.");
        if (decimal.Round(s.EarnRate, 4) != s.EarnRate) Add("earnRate", "At most 4 decimal places.");
        if (s.EarnBasis is not ("subtotal" or "total")) Add("earnBasis",
            "Must be 'subtotal' (after discounts, without shipping and tax) or 'total'.");
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
        if (s.BalanceSource is not (BalanceSources.Ledger or BalanceSources.Pos)) Add("balanceSource", "Must be 'ledger' or 'pos'.");
        if (s.PendingDays is < 0 or > 365) Add("pendingDays", "Must be between 0 (points can be spent at once) and 365 days.");
        if (!ExpiryModes.All.Contains(s.ExpiryMode)) Add("expiryMode",
            "Must be 'never', 'earned' (each point expires expiryMonths after it was earned) or 'inactivity' (the balance expires after "
            + "expiryMonths without earning or spending).");
        if (s.ExpiryMonths is < 1 or > 120) Add("expiryMonths", "Must be between 1 and 120 months.");
        if (s.ExpiryNoticeDays is < 0 or > 90) Add("expiryNoticeDays", "Must be between 0 (no notice) and 90 days before points expire.");

        if (update.PosApiKey is { Length: > 500 }) Add("posApiKey", "At most 500 characters.");
        // Sent as a header: a line break or a NUL would break the request (and a NUL cannot be stored).
        if (update.PosApiKey is not null && update.PosApiKey.Any(char.IsControl)) Add("posApiKey",
            "Must not contain control characters (line breaks, NUL).");
        if (StoredText.HasNul(s.PosBaseUrl)) Add("posBaseUrl", StoredText.NulRule);
        else if (s.PosBaseUrl is not null && NetworkGuard.UrlError(s.PosBaseUrl, options.AllowInsecurePosUrls, pos.AllowPrivateNetworks,
            guard) is { } urlError)
            Add("posBaseUrl", urlError);
        if (s.BalanceSource == BalanceSources.Pos)
        {
            if (s.PosBaseUrl is null) Add("posBaseUrl", "Required when balanceSource is 'pos'.");
            if (s.PosApiKeyProtected is null) Add("posApiKey", "Required when balanceSource is 'pos'.");
        }
        return errors;
    }

    /// <summary>
    /// The saved POS key was entered for the saved URL and is never sent anywhere else: true when <paramref name="url"/>
    /// is another one while the saved key would be kept (no new key given), so the merchant must enter the key again.
    /// </summary>
    internal static bool SavedKeyWouldMove(ShopSettings saved, string? url, bool keepsSavedKey) =>
        keepsSavedKey && saved.PosApiKeyProtected is not null && url is not null && url != saved.PosBaseUrl;

    internal const string RetypeKeyMessage = "Enter the API key again: a saved key is only ever sent to the POS URL it was saved with.";

    /// <summary>422 <c>pos_api_key_required</c>: the only thing wrong is the key left out for a new URL.</summary>
    internal static ProblemHttpResult RetypeKeyProblem(Dictionary<string, string[]> errors) =>
        Problems.Validation("pos_api_key_required", "Enter the POS API key for the new POS URL.", RetypeKeyMessage,
            new Dictionary<string, object?> { ["errors"] = errors });

    /// <summary>The advisory lock a balance source switch takes exclusively and a conversion's claim takes shared.</summary>
    public static string BalanceSourceLock(string shop) => $"balance-source:{shop}";

    [LoggerMessage(Level = LogLevel.Information, Message = "Saved the settings of {Shop}: balance source {BalanceSource}, earn rate {EarnRate}")]
    private static partial void LogSaved(ILogger logger, string shop, string balanceSource, decimal earnRate);
}
