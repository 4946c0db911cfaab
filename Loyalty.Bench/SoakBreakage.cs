using System.Net.Http.Json;

namespace Loyalty.Bench;

/// <summary>
/// The deliberately broken variants (<c>--broken [name]</c>): after the run has settled, the outside world is changed
/// the way a bug would change it, and the checker must report it. Each touches three cases, chosen by conversion id.
/// </summary>
public static class SoakBreakage
{
    public static readonly string[] Names = ["new-reference", "refund-used", "delete-live", "no-fence", "early-release", "expire-twice", "tier-unset",
        "tier-rule-unmet", "stale-list", "all"];

    /// <summary>
    /// <c>tier-unset</c> breaks the run before it starts (<see cref="Soak"/>'s seed): the merchant's tier placements never reach the app
    /// while the generator still counts on their multiplier, as an app that ignored a customer's tier at award would; the checker must
    /// see every member's balance short.
    /// </summary>
    public const string TierUnset = "tier-unset";

    /// <summary>
    /// <c>tier-rule-unmet</c> breaks a <c>--tier-rules</c> run before it starts: the tier's threshold is a cent above what the entry orders
    /// spend, so each member is lifted only by their first later order, which earns at ×1 where the generator counts the tier's multiplier
    /// (as an app whose rules missed one order, or priced it after the lift it caused, would).
    /// </summary>
    public const string TierRuleUnmet = "tier-rule-unmet";

    public static async Task BreakAsync(string name, BenchEnvironment env, SoakClient client, SoakRecord record, CancellationToken ct)
    {
        if (name is "new-reference" or "all") await NewReferenceAsync(env, client, record, ct);
        if (name is "refund-used" or "all") await RefundUsedAsync(client, record, ct);
        if (name is "delete-live" or "all") DeleteLive(env, record);
        if (name is "no-fence" or "all") NoFence(env, record);
        if (name is "stale-list" or "all") StaleList(env, record);
        if (name == "early-release" || (name == "all" && record.PendingDays > 0)) await EarlyReleaseAsync(env, record);
        if (name == "expire-twice" || (name == "all" && record.Expired)) await ExpireTwiceAsync(env, record);
    }

    /// <summary>
    /// After the jump past expiry: an app that expires a lot a second time (as a lost lock or a wrong reference would). Three
    /// customers who still hold points lose one more point each, in a ledger row the database accepts as consistent.
    /// </summary>
    private static async Task ExpireTwiceAsync(BenchEnvironment env, SoakRecord record)
    {
        if (!record.Expired) throw new InvalidOperationException("--broken expire-twice needs --expiry-months");
        var twice = await env.ScalarAsync<long>("""
            WITH three AS (SELECT b.shop_domain, b.customer_id, b.balance,
                                  (SELECT max(id) FROM point_transactions t WHERE t.shop_domain = b.shop_domain AND t.customer_id = b.customer_id
                                     AND t.points > 0) AS lot
                           FROM point_balances b WHERE b.balance > 0 ORDER BY b.customer_id LIMIT 3),
                 posted AS (INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type,
                                                            balance_after, expires_lot)
                            SELECT shop_domain, customer_id, -1, 'expiry', 'expire:' || lot || ':99', 'expired again', 'system', balance - 1, lot
                            FROM three RETURNING shop_domain, customer_id),
                 taken AS (UPDATE point_balances b SET balance = balance - 1, total_expired = total_expired + 1 FROM posted
                           WHERE b.shop_domain = posted.shop_domain AND b.customer_id = posted.customer_id RETURNING 1)
            SELECT count(*) FROM taken
            """);
        Console.WriteLine($"BROKEN expire-twice: {twice} customers' lots expired a second time, one point each");
    }

    /// <summary>
    /// With a pending period: an app that releases orders before their period is over (as a wrong date would). Three orders' periods
    /// are made to end now; the checker's own reads of My Page then release them.
    /// </summary>
    private static async Task EarlyReleaseAsync(BenchEnvironment env, SoakRecord record)
    {
        if (record.PendingDays == 0) throw new InvalidOperationException("--broken early-release needs --pending-days");
        var early = await env.ScalarAsync<long>("""
            WITH three AS (SELECT shop_domain, order_id FROM order_earnings
                           WHERE released_at IS NULL AND pending_until IS NOT NULL AND awarded_points > taken_back_points
                           ORDER BY order_id LIMIT 3),
                 moved AS (UPDATE order_earnings e SET pending_until = now() - interval '1 second' FROM three
                           WHERE e.shop_domain = three.shop_domain AND e.order_id = three.order_id RETURNING 1)
            SELECT count(*) FROM moved
            """);
        Console.WriteLine($"BROKEN early-release: {early} orders' pending periods made to end now, days early");
    }

    private static IEnumerable<SoakRecord.Shown> Live(SoakRecord record) => record.Codes.Values
        .Where(s => !record.Cancels.ContainsKey(s.Code) && !record.Redeemed.ContainsKey(s.Code)).OrderBy(s => s.ConversionId, StringComparer.Ordinal);

    /// <summary>
    /// A client that retries a deduction under a new reference, or re-sends one after the saga gave up: in POS mode
    /// straight to the POS, in ledger mode as a second debit through the admin API.
    /// </summary>
    private static async Task NewReferenceAsync(BenchEnvironment env, SoakClient client, SoakRecord record, CancellationToken ct)
    {
        var shown = Live(record).Take(3).ToList();
        var failed = record.Answered.Where(a => record.Codes.Values.All(s => s.ConversionId != a.Key)).OrderBy(a => a.Key,
            StringComparer.Ordinal).Take(3).ToList();
        if (record.PosMode)
        {
            using var http = new HttpClient { BaseAddress = env.Pos.BaseUrl };
            http.DefaultRequestHeaders.Authorization = new("Bearer", env.Pos.ApiKey);
            foreach (var s in shown) await http.PostAsJsonAsync($"customers/{s.Customer}/points/deductions",
                new { points = s.Points, reference = s.ConversionId + "-retry" }, ct);
            foreach (var (id, customer) in failed) await http.PostAsJsonAsync($"customers/{customer}/points/deductions",
                new { points = 100, reference = id }, ct);
        }
        else
        {
            foreach (var s in shown) await client.AdjustAsync(s.Customer, -s.Points, $"retry-{s.ConversionId}", $"Coupon {s.Code} (retried)", ct);
            foreach (var (id, customer) in failed) await client.AdjustAsync(customer, -100, $"resend-{id}", $"Conversion {id} (re-sent)", ct);
        }
        Console.WriteLine(
            $"BROKEN new-reference: {shown.Count} completed conversions' points taken again under new references, {failed.Count} failed ones' " +
            $"taken after all");
    }

    /// <summary>A coupon used at checkout whose points are given back anyway (an admin adjustment naming the conversion).</summary>
    private static async Task RefundUsedAsync(SoakClient client, SoakRecord record, CancellationToken ct)
    {
        var used = record.Codes.Values.Where(s => record.Redeemed.ContainsKey(s.Code))
            // balances the checker compares first
            .OrderBy(s => record.PosMode && (record.Demand.GetValueOrDefault(s.Customer) > record.Opening[s.Customer]
                || record.StoreSpenders.Contains(s.Customer)))
            .ThenBy(s => s.ConversionId, StringComparer.Ordinal).Take(3).ToList();
        foreach (var s in used) await client.AdjustAsync(s.Customer, s.Points, $"refund-{s.ConversionId}", $"Coupon {s.Code} refunded", ct);
        Console.WriteLine($"BROKEN refund-used: {used.Count} used coupons' points given back");
    }

    /// <summary>Live coupons deleted in Shopify while their points stay deducted.</summary>
    private static void DeleteLive(BenchEnvironment env, SoakRecord record)
    {
        var deleted = Live(record).Skip(3).Take(3).Count(s => env.Shopify.DeleteDiscountWithCode(s.Code));
        Console.WriteLine($"BROKEN delete-live: {deleted} live coupons deleted in Shopify, their points kept");
    }

    /// <summary>
    /// A customer's storefront list missing a live code, as a list write lost or overwritten by an older one would leave it while the app
    /// counts the list as written.
    /// </summary>
    private static void StaleList(BenchEnvironment env, SoakRecord record)
    {
        var dropped = Live(record).Skip(9).Take(3).Count(s => env.Shopify.DropFromCouponsMetafield(s.Customer, s.Code));
        Console.WriteLine($"BROKEN stale-list: {dropped} live codes taken out of their customers' loyalty.coupons lists");
    }

    /// <summary>A second discount for a conversion, as a driver without a lease fence would create under a fresh code.</summary>
    private static void NoFence(BenchEnvironment env, SoakRecord record)
    {
        var doubled = Live(record).Skip(6).Take(3).Count(s => env.Shopify.DuplicateDiscount(s.Code, s.Code + "X") is not null);
        Console.WriteLine($"BROKEN no-fence: {doubled} conversions given a second live discount");
    }
}
