namespace Loyalty.ShopifyApp.Features.Settings;

/// <summary>
/// A shop's points rules. A shop that never saved settings runs on <see cref="Defaults"/>.
/// Money is decimal in shop currency; points are whole numbers. <see cref="PendingDays"/>: how long an order's points wait (its
/// return window) before they can be spent; 0 = at once.
/// </summary>
public sealed record ShopSettings(
    decimal EarnRate,
    string EarnBasis,
    bool TestOrdersEarn,
    decimal PointValue,
    long MinConversion,
    long ConversionStep,
    long DailyConversionLimit,
    int CouponValidityDays,
    long FeedbackBonus,
    int FeedbackDailyLimit,
    string NegativeBalancePolicy,
    string BalanceSource,
    string? PosBaseUrl,
    string? PosApiKeyProtected,
    int PendingDays)
{
    /// <summary>
    /// Earning is off (rate 0, on the order total) until the merchant sets a rate, as seed 003 says; the admin opens on a first-run
    /// checklist meanwhile. 1 point = 1 unit when converting (500 → a 500 coupon). Shops installed before these defaults
    /// (1 point per unit of the subtotal) kept theirs, saved by migration 0020.
    /// </summary>
    public static ShopSettings Defaults { get; } = new(
        EarnRate: 0m, EarnBasis: "total", TestOrdersEarn: false, PointValue: 1m,
        MinConversion: 100, ConversionStep: 100, DailyConversionLimit: 10_000, CouponValidityDays: 30,
        FeedbackBonus: 10, FeedbackDailyLimit: 1, NegativeBalancePolicy: "allow_negative",
        BalanceSource: BalanceSources.Ledger, PosBaseUrl: null, PosApiKeyProtected: null, PendingDays: 0);

    public bool PosMode => BalanceSource == BalanceSources.Pos;

    public static async Task<ShopSettings> LoadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, CancellationToken ct) =>
        await conn.QuerySingleOrDefaultAsync<ShopSettings>(new CommandDefinition("""
            SELECT earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step, daily_conversion_limit,
                   coupon_validity_days, feedback_bonus, feedback_daily_limit, negative_balance_policy, balance_source,
                   pos_base_url, pos_api_key_protected, pending_days
            FROM shop_settings WHERE shop_domain = @shop
            """, new { shop }, tx, cancellationToken: ct)) ?? Defaults;

    /// <summary>The shop's POS, when it runs in POS mode.</summary>
    public PosConnection? PosConnection(IDataProtectionProvider dataProtection) =>
        PosMode && PosBaseUrl is not null && PosApiKeyProtected is not null
            ? new PosConnection(new Uri(PosBaseUrl), PosKeyProtector(dataProtection).Unprotect(PosApiKeyProtected))
            : null;

    public static IDataProtector PosKeyProtector(IDataProtectionProvider dataProtection) => dataProtection.CreateProtector("Loyalty.PosApiKey.v1");
}
