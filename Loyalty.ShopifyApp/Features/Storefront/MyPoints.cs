using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.Tiers;

namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// <c>GET /proxy/api/me</c>: the logged-in customer's balance (available to spend), pending points with the orders that hold them
/// and when each becomes available, totals, recent history, and what they may convert now under the shop's rules (minimum, step,
/// what is left of today's limit, the choices that follow), what expires next, and their VIP tier with what the next one
/// needs. Pending points whose period is over are released
/// first, and points whose time is up expire first.
/// </summary>
public static class MyPoints
{
    public sealed record Rules(long MinConversion, long ConversionStep, long DailyLimit, long RemainingToday, decimal PointValue, string Currency,
        int CouponValidityDays, long FeedbackBonus, int FeedbackDailyLimit, IReadOnlyList<long> Choices);

    /// <param name="Balance">The points available to spend (also <see cref="Available"/>).</param>
    /// <param name="Lifetime">Every point earned and not taken back, pending ones included.</param>
    public sealed record Me(long CustomerId, long Balance, long TotalEarned, long TotalRedeemed, string BalanceSource, Rules Rules,
        IReadOnlyList<Ledger.HistoryItem> History, long Available, long Pending, long Lifetime, IReadOnlyList<PendingOrder> PendingOrders,
        ExpiryNotice Expiry, CustomerTierStatus? Tier);

    /// <summary>At most this many ready-made amounts are offered; any other multiple of the step can still be typed.</summary>
    private const int MaxChoices = 6;

    /// <summary>The amounts the customer can convert right now: the minimum, then multiples of the step, within balance and today's limit.</summary>
    public static IReadOnlyList<long> Choices(long min, long step, long balance, long remainingToday)
    {
        var max = Math.Min(balance, remainingToday);
        var choices = new List<long>();
        if (max < min) return choices;
        var top = max - (max - min) % step;
        // Spread over the range: small amounts first, and always the largest allowed.
        var stride = Math.Max(step, (top - min) / (MaxChoices - 1) / step * step);
        for (var p = min; p < top && choices.Count < MaxChoices - 1; p += stride) choices.Add(p);
        choices.Add(top);
        return choices;
    }

    public static RouteGroupBuilder MapMyPoints(this RouteGroupBuilder proxy)
    {
        proxy.MapGet("/api/me", GetAsync).RequireLoggedInCustomer().ResponseExample(StatusCodes.Status200OK, new Me(7001, 1250, 1800, 550,
            BalanceSources.Ledger, new Rules(500, 100, 5000, 4500, 1m, "JPY", 90, 10, 1, [500, 1000]),
            [new Ledger.HistoryItem(3301, 120, "order_award", "Order #1042", 1250, new DateTimeOffset(2025, 6, 1, 9, 30, 0, TimeSpan.Zero), 5501)],
            1250, 80, 1880, [new PendingOrder(5502, "#1043", 80, new DateTimeOffset(2025, 6, 15, 9, 30, 0, TimeSpan.Zero))],
            new ExpiryNotice(ExpiryModes.Earned, 12, [new ExpiringPoints(300, new DateTimeOffset(2026, 1, 10, 8, 0, 0, TimeSpan.Zero))]),
            new CustomerTierStatus(new TierView(2, "Silver", 1.25m, ["Early access to sales"]), "computed",
                new DateTimeOffset(2025, 3, 2, 10, 0, 0, TimeSpan.Zero), TierBases.PointsEarned, 12, 1800,
                new NextTier("Gold", 3000, 1200), null)));
        return proxy;
    }

    private static async Task<Me> GetAsync(HttpContext http, NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection,
        PendingRelease pending, PointsExpiry expiry, ProgramClock clock, CancellationToken ct)
    {
        var (shop, customer) = (http.Proxy().Shop, http.Customer());
        await using var conn = await db.OpenConnectionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        await pending.ReleaseDueForCustomerAsync(conn, shop, customer, ct);
        await expiry.ExpireDueForCustomerAsync(conn, shop, customer, notifyPos: true, settings, ct);
        var balance = await CustomerBalance.ReadAsync(conn, shop, customer, settings, pos, dataProtection, ct);
        var history = await Ledger.HistoryAsync(conn, shop, customer, null, 20, ct);
        var currency = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT currency FROM shops WHERE shop_domain = @shop", new { shop }, cancellationToken: ct)) ?? "";
        var remaining = Math.Max(0, settings.DailyConversionLimit - await ConvertPoints.ConvertedTodayAsync(conn, null, shop, customer, null, ct));
        // What a point is worth to this customer: a tier's conversion bonus included, as their coupons will be.
        var pointValue = settings.PointValue * await TierProgram.ConversionFactorAsync(conn, null, shop, customer, clock.Now, ct);
        var rules = new Rules(settings.MinConversion, settings.ConversionStep, settings.DailyConversionLimit, remaining, pointValue,
            currency, settings.CouponValidityDays, settings.FeedbackBonus, settings.FeedbackDailyLimit,
            Choices(settings.MinConversion, settings.ConversionStep, balance.Balance, remaining));
        var pendingOrders = balance.Pending > 0 ? await PendingOrders.ForCustomerAsync(conn, shop, customer, ct) : [];
        var expiring = await HeldLots.NoticeAsync(conn, shop, customer, balance.LedgerBalance, settings, ct);
        var tier = await CustomerTierStatus.ReadAsync(conn, shop, customer, clock.Now, ct);
        return new Me(customer, balance.Balance, balance.TotalEarned, balance.TotalRedeemed, balance.BalanceSource, rules, history,
            balance.Balance, balance.Pending, balance.Lifetime, pendingOrders, expiring, tier);
    }
}
