using System.Security.Cryptography;
using Loyalty.ShopifyApp.Features.Expiry;

namespace Loyalty.ShopifyApp.Features.Settings;

/// <summary>
/// A shop's points rules. A shop that never saved settings runs on <see cref="Defaults"/>.
/// Money is decimal in shop currency; points are whole numbers. <see cref="PendingDays"/>: how long an order's points wait (its
/// return window) before they can be spent; 0 = at once. <see cref="ExpiryMode"/> (one of <see cref="ExpiryModes"/>) and
/// <see cref="ExpiryMonths"/>: when points expire; <see cref="ExpirySince"/>: when that rule began (a lot earned before counts from
/// then); <see cref="ExpiryNoticeDays"/>: how long before points expire the shop hears of it (0: never).
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
    int PendingDays,
    string ExpiryMode = ExpiryModes.Never,
    int ExpiryMonths = 12,
    DateTimeOffset? ExpirySince = null,
    int ExpiryNoticeDays = 14)
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
        await conn.QuerySingleOrDefaultAsync<ShopSettings>(new CommandDefinition(Sql, new { shop }, tx, cancellationToken: ct)) ?? Defaults;

    /// <summary><see cref="LoadAsync"/>'s statement, on <c>@shop</c>, for a caller's own batch (no row: <see cref="Defaults"/>).</summary>
    public const string Sql = """
        SELECT earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step, daily_conversion_limit,
               coupon_validity_days, feedback_bonus, feedback_daily_limit, negative_balance_policy, balance_source,
               pos_base_url, pos_api_key_protected, pending_days, expiry_mode, expiry_months, expiry_since, expiry_notice_days
        FROM shop_settings WHERE shop_domain = @shop
        """;

    /// <summary>
    /// The settings as a change of the ledger outside a request must see them (a release, an expiry): under the balance-source lock
    /// (shared), so a switch to or from POS mode is either wholly before the change (its points go to the POS) or wholly after it
    /// (the switch finds them in the ledger). Taken before any order's or balance's lock, as webhook processing takes it.
    /// </summary>
    public static async Task<ShopSettings> LoadUnderBalanceSourceAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop,
        CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock_shared(hashtextextended(@key, 0))",
            new { key = SettingsEndpoints.BalanceSourceLock(shop) }, tx, cancellationToken: ct));
        return await LoadAsync(conn, tx, shop, ct);
    }

    /// <summary>The POS of <paramref name="shop"/>, when it runs in POS mode, named for the circuit breaks the instances share.</summary>
    public PosConnection? PosConnection(string shop, IDataProtectionProvider dataProtection) =>
        PosMode && PosBaseUrl is not null && PosApiKeyProtected is not null
            ? new PosConnection(new Uri(PosBaseUrl), PosKeyProtector(dataProtection).Unprotect(PosApiKeyProtected), CircuitKey(shop))
            : null;

    /// <summary>
    /// The shop's POS on the shared circuit board (<see cref="PosCircuitKey"/>): the shop and a fingerprint of the URL and of the key
    /// as stored. The stored key is encrypted afresh on every save, so saving a key (even the same one again) or another URL makes a
    /// new fingerprint, the same on every instance, and nothing of the key can be read from it.
    /// </summary>
    private PosCircuitKey CircuitKey(string shop) => new(shop,
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{PosBaseUrl}\n{PosApiKeyProtected}")).AsSpan(0, 8)));

    public static IDataProtector PosKeyProtector(IDataProtectionProvider dataProtection) => dataProtection.CreateProtector("Loyalty.PosApiKey.v1");
}
