using System.Text.Json;
using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// Compares the database with the simulators' ground truth once the system is quiet. Every rule the soak
/// promises is a query here; each broken one is reported with the ids involved.
/// </summary>
public static class SoakChecker
{
    /// <summary>Work still under way: conversions not terminal or with a repair pending, unprocessed webhooks, undelivered POS changes.</summary>
    public static Task<long> InFlightAsync(BenchEnvironment env) => env.ScalarAsync<long>("""
        SELECT (SELECT count(*) FROM conversions
                WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating')
                   OR state = 'completed' AND (metafield_synced_at IS NULL OR coupon_status = 'cancelling'))
             + (SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing'))
             + (SELECT count(*) FROM pos_outbox WHERE state = 'pending')
        """);

    public static async Task<string> DescribeInFlightAsync(BenchEnvironment env)
    {
        await using var conn = env.Connection();
        var rows = await conn.QueryAsync<(string What, long N)>("""
            SELECT 'conversion ' || state || CASE WHEN state = 'completed' THEN '/' || coupon_status || CASE WHEN metafield_synced_at IS NULL THEN '/metafield' ELSE '' END ELSE '' END, count(*)
            FROM conversions
            WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating')
               OR state = 'completed' AND (metafield_synced_at IS NULL OR coupon_status = 'cancelling')
            GROUP BY 1
            UNION ALL SELECT 'webhook ' || status, count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing') GROUP BY 1
            UNION ALL SELECT 'pos_outbox pending', count(*) FROM pos_outbox WHERE state = 'pending' HAVING count(*) > 0
            """);
        return string.Join(", ", rows.Select(r => $"{r.What} ×{r.N}"));
    }

    private sealed record Conversion(string Id, long CustomerId, long Points, string State, string Code, string CouponStatus);

    public static async Task<List<string>> CheckAsync(BenchEnvironment env, Soak.Observed seen, CancellationToken ct)
    {
        var v = new List<string>();
        await using var conn = env.Connection();
        var conversions = (await conn.QueryAsync<Conversion>(
            "SELECT id, customer_id, points, state, code, coupon_status FROM conversions ORDER BY id")).ToList();
        var ledger = (await conn.QueryAsync<(string Reference, string Kind, long Points, long CustomerId)>(
            "SELECT reference, kind, points, customer_id FROM point_transactions")).ToList();
        var ledgerByRef = ledger.ToLookup(l => l.Reference);
        var posTx = env.Pos.Transactions();
        var posByRef = posTx.ToLookup(t => t.Reference);

        // Every conversion is terminal; a coupon exists in Shopify ⇔ one deduction with its reference ⇔ completed (and not cancelled).
        foreach (var c in conversions)
        {
            if (c.State is not ("completed" or "failed")) v.Add($"conversion {c.Id} is {c.State}, not terminal");
            var discount = env.Shopify.DiscountWithCode(c.Code);
            var live = discount is not null && discount.Status == "ACTIVE";
            var posDeductions = posByRef[c.Id].Count(t => t.Points < 0);
            var ledgerDebits = ledgerByRef[c.Id].Count(l => l.Kind == "conversion");
            var shouldLive = c.State == "completed" && c.CouponStatus is "active" or "used";
            var deducted = c.State == "completed";
            if (live != shouldLive) v.Add($"conversion {c.Id} ({c.State}/{c.CouponStatus}): coupon {(live ? "exists" : "missing")} in Shopify");
            if (posDeductions != (deducted ? 1 : 0)) v.Add($"conversion {c.Id} ({c.State}): {posDeductions} POS deductions with its reference");
            if (ledgerDebits != (deducted ? 1 : 0)) v.Add($"conversion {c.Id} ({c.State}): {ledgerDebits} ledger debits");
            if (c.CouponStatus == "cancelled")
            {
                if (ledgerByRef[$"{c.Id}:reversal"].Count() != 1) v.Add($"conversion {c.Id}: cancelled without exactly one reversal in the ledger");
                if (posByRef[$"{c.Id}:reversal"].Count(t => t.Points > 0) != 1) v.Add($"conversion {c.Id}: cancelled without exactly one reversal at the POS");
            }
        }

        // Every code a customer was shown is completed and usable (unless the customer cancelled it).
        var byCode = conversions.ToDictionary(c => c.Code, StringComparer.OrdinalIgnoreCase);
        foreach (var (code, customer) in seen.CodesShown)
        {
            if (!byCode.TryGetValue(code, out var c)) { v.Add($"code {code} shown to {customer} has no conversion"); continue; }
            if (c.State != "completed") v.Add($"code {code} shown to {customer} belongs to a {c.State} conversion");
            if (!seen.CodesCancelled.ContainsKey(code) && env.Shopify.DiscountWithCode(code) is not { Status: "ACTIVE" })
                v.Add($"code {code} shown to {customer} is not usable in Shopify");
        }

        // At most one award per order; exactly one for every paid order.
        var awards = ledger.Where(l => l.Kind == "order_award").GroupBy(l => l.Reference).ToDictionary(g => g.Key, g => g.Count());
        var awardOrders = (await conn.QueryAsync<(long OrderId, int Awards)>(
            "SELECT order_id, count(*)::int FROM point_transactions WHERE kind = 'order_award' GROUP BY order_id")).ToDictionary(a => a.OrderId, a => a.Awards);
        foreach (var (order, (customer, cancelled)) in seen.Orders)
        {
            var n = awardOrders.GetValueOrDefault(order);
            if (n > 1) v.Add($"order {order}: {n} awards");
            if (n == 0 && !cancelled) v.Add($"order {order} of {customer}: paid, not cancelled, no award");
        }
        _ = awards;

        // Per customer: the ledger adds up from the opening balance, never below zero, and equals the POS balance.
        var balances = (await conn.QueryAsync<(long CustomerId, long Balance)>("SELECT customer_id, balance FROM point_balances"))
            .ToDictionary(b => b.CustomerId, b => b.Balance);
        foreach (var (customer, opening) in seen.Opening)
        {
            var mine = ledger.Where(l => l.CustomerId == customer).ToList();
            var expected = opening + mine.Where(l => l.Kind != "bonus").Sum(l => l.Points);
            var balance = balances.GetValueOrDefault(customer);
            if (balance != expected) v.Add($"customer {customer}: balance {balance} != opening {opening} + movements = {expected}");
            if (balance < 0) v.Add($"customer {customer}: negative balance {balance}");
            var pos = env.Pos.Balance(customer.ToString());
            if (pos != balance) v.Add($"customer {customer}: ledger {balance} != POS {pos}");
            var posSum = posTx.Where(t => t.CustomerId == customer.ToString()).Sum(t => t.Points);
            if (pos != posSum) v.Add($"customer {customer}: POS balance {pos} != its transactions {posSum}");

            // The metafield lists exactly the customer's live coupons (active or used) written by this app.
            var listed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (env.Shopify.CouponsMetafield(customer) is { } json)
            {
                foreach (var item in JsonDocument.Parse(json).RootElement.EnumerateArray())
                {
                    if (item.TryGetProperty("conversionId", out _)) listed.Add(item.GetProperty("code").GetString()!);
                }
            }
            var liveCodes = conversions.Where(c => c.CustomerId == customer && c.State == "completed" && c.CouponStatus is "active" or "used")
                .Select(c => c.Code).ToHashSet(StringComparer.OrdinalIgnoreCase);
            if (!listed.SetEquals(liveCodes))
            {
                v.Add($"customer {customer}: metafield lists {listed.Count} coupons, {listed.Except(liveCodes).Count()} not live, " +
                      $"{liveCodes.Except(listed).Count()} live ones missing");
            }
        }

        var parked = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE state = 'parked'");
        if (parked > 0) v.Add($"{parked} POS changes parked");
        var review = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM conversions WHERE state = 'needs_review'");
        if (review > 0) v.Add($"{review} conversions need review");
        var failedWebhooks = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'");
        if (failedWebhooks > 0) v.Add($"{failedWebhooks} webhook deliveries failed");
        ct.ThrowIfCancellationRequested();
        return v;
    }
}
