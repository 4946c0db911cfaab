using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Judges a settled soak run by what the app cannot fake: the simulators' complete records (every discount ever
/// created, deleted ones included; every POS transaction) and the generator's <see cref="SoakRecord"/> of what it sent
/// and what each customer was shown, plus the balance My Page shows. The app's tables are read only to know when the
/// run is quiet and for the report. Each invariant is printed with the number of cases it checked.
/// </summary>
public static partial class SoakChecker
{
    /// <summary>The invariants, each with how many cases it checked and what broke.</summary>
    public sealed class Verdict
    {
        public List<(string Name, int Checked, List<string> Violations)> Invariants { get; } = [];

        public void Add(string name, int checkedCases, List<string> violations) => Invariants.Add((name, checkedCases, violations));

        public int Violations => Invariants.Sum(i => i.Violations.Count);
    }

    [GeneratedRegex(@"conv_[A-Za-z0-9]+")]
    private static partial Regex ConversionId();

    private static string? ConversionOf(string text) => ConversionId().Match(text) is { Success: true } m ? m.Value : null;

    private static bool Live(ShopifySimulator.Discount d) => !d.Deleted && d.Status == "ACTIVE";

    public static async Task<Verdict> CheckAsync(BenchEnvironment env, SoakClient client, SoakRecord record, CancellationToken ct)
    {
        var verdict = new Verdict();
        var discounts = env.Shopify.AllDiscounts().Select(d => (Discount: d, Conversion: ConversionOf(d.Title))).Where(
            d => d.Conversion is not null).ToList();
        var byCode = discounts.SelectMany(d => d.Discount.Codes.Select(code => (code, d.Discount)))
            .ToLookup(x => x.code, x => x.Discount, StringComparer.OrdinalIgnoreCase);
        var byConversion = discounts.ToLookup(d => d.Conversion!, d => d.Discount);
        var shownByConversion = record.Codes.Values.ToDictionary(s => s.ConversionId);
        var pos = env.Pos.Transactions();
        var posByConversion = pos.Where(t => ConversionOf(t.Reference) is not null).ToLookup(t => ConversionOf(t.Reference)!);
        bool Cancelled(string code) => record.Cancels.TryGetValue(code, out var c) && c.Outcome == "cancelled";

        // 1. Every code shown exists in Shopify for that customer only, worth its points, single use, live unless cancelled.
        var v = new List<string>();
        foreach (var s in record.Codes.Values)
        {
            var found = byCode[s.Code].ToList();
            if (found.Count != 1) { v.Add(
                $"code {s.Code} shown to {s.Customer} ({s.ConversionId}): {found.Count} discounts in Shopify have it"); continue; }
            var d = found[0];
            var customers = (d.Input?["context"]?["customers"]?["add"] as JsonArray)?.Select(n => n?.GetValue<string>()).ToList() ?? [];
            var amount = decimal.TryParse(d.Input?["customerGets"]?["value"]?["discountAmount"]?["amount"]?.GetValue<string>(),
                System.Globalization.CultureInfo.InvariantCulture, out var a) ? a : -1;
            if (ConversionOf(d.Title) != s.ConversionId) v.Add($"code {s.Code} shown for {s.ConversionId}: the discount's title is '{d.Title}'");
            if (customers is not [var only] || only != $"gid://shopify/Customer/{s.Customer}")
                v.Add($"code {s.Code} shown to {s.Customer}: open to [{string.Join(", ", customers)}] in Shopify");
            if (amount != s.Points * PointValue || amount != s.Amount) v.Add(
                $"code {s.Code} ({s.Points} points, shown as {s.Amount}): worth {amount} in Shopify");
            if (d.UsageLimit != 1) v.Add($"code {s.Code}: usage limit {d.UsageLimit?.ToString() ?? "none"} in Shopify");
            if (Cancelled(s.Code)
                && !d.Deleted) v.Add(
                $"code {s.Code} of {s.Customer} ({s.ConversionId}): the customer was told it is cancelled, it is still live in Shopify");
            if (!Cancelled(s.Code) && !Live(d) && d.UsageCount == 0) v.Add(
                $"code {s.Code} of {s.Customer} ({s.ConversionId}): not cancelled by the customer, {(d.Deleted ? "deleted" : d.Status)} in Shopify " +
                $"(used {d.UsageCount}×)");
        }
        verdict.Add(
            "1 every code shown is in Shopify for that customer only, points × value, limit 1, live unless cancelled", record.Codes.Count, v);

        // 2. No orphans: a live discount of the app's belongs to a code a customer was shown; a shown code has exactly one
        // discount live or used; a deleted, unused coupon keeps no points deducted at the POS.
        v = [];
        foreach (var (d, conversion) in discounts.Where(d => !d.Discount.Deleted))
        {
            if (!shownByConversion.TryGetValue(conversion!, out var s))
            {
                var answered = record.Answered.ContainsKey(conversion!)
                    ? "the conversion was answered without a code"
                    : "the conversion was never answered";
                v.Add($"discount {d.Id} ({string.Join(",", d.Codes)}, {conversion}) is live but no customer was shown its code ({answered})");
            }
            else if (!d.Codes.Contains(s.Code, StringComparer.OrdinalIgnoreCase))
                v.Add($"discount {d.Id} ({string.Join(",", d.Codes)}) of {conversion} is live, but the customer was shown {s.Code}");
        }
        foreach (var s in record.Codes.Values)
        {
            var liveOrUsed = byConversion[s.ConversionId].Count(d => !d.Deleted || d.UsageCount > 0);
            if (!Cancelled(s.Code)
                && liveOrUsed != 1) v.Add($"conversion {s.ConversionId} (code shown to {s.Customer}): {liveOrUsed} discounts live or used");
        }
        if (record.PosMode)
        {
            foreach (var (d, conversion) in discounts.Where(d => d.Discount.Deleted && d.Discount.UsageCount == 0))
            {
                if (byConversion[conversion!].Any(x => !x.Deleted || x.UsageCount > 0)) continue; // another discount of it stands for the points
                var net = posByConversion[conversion!].Sum(t => t.Points);
                if (net != 0) v.Add($"conversion {conversion}: its coupon {d.Id} was deleted unused, yet {-net} points stay deducted at the POS");
            }
        }
        verdict.Add("2 no orphans: live discounts were shown, one per shown conversion, deleted unused coupons refunded", discounts.Count, v);

        // 3. POS mode: per conversion reference at most one deduction, and one exactly when the code was shown.
        v = [];
        var conversionIds = record.Answered.Keys.Concat(posByConversion.Select(g => g.Key)).Concat(discounts.Select(d => d.Conversion!)).ToHashSet();
        if (record.PosMode)
        {
            foreach (var id in conversionIds)
            {
                var deductions = posByConversion[id].Where(t => t.Points < 0).ToList();
                var byItsReference = deductions.Count(t => t.Reference == id);
                if (deductions.Count != byItsReference) v.Add(
                    $"conversion {id}: POS deductions under other references " +
                    $"({string.Join(", ", deductions.Where(t => t.Reference != id).Select(t => t.Reference))})");
                var shown = shownByConversion.ContainsKey(id);
                if (byItsReference > 1 || byItsReference != (shown ? 1 : 0)) v.Add(
                    $"conversion {id} ({(shown ? "code shown" : "no code shown")}): {byItsReference} POS deductions with its reference");
            }
        }
        verdict.Add("3 POS: per conversion at most one deduction, one exactly when its code was shown", record.PosMode ? conversionIds.Count : 0, v);

        // 4. Used coupons: a cancellation after use is refused, and a coupon Shopify counts as used never gets its points back.
        v = [];
        var used = discounts.Where(d => d.Discount.UsageCount > 0).ToList();
        foreach (var (d, conversion) in used)
        {
            var code = d.Codes.FirstOrDefault() ?? "";
            if (Cancelled(code))
            {
                var c = record.Cancels[code];
                var when = record.RedeemedAtMs.TryGetValue(code, out var at)
                    ? $"; the checkout used it {at - c.SentMs:F0} ms after the cancel request was sent, "
                      + $"{c.AnsweredMs - at:F0} ms before it was answered"
                    : "";
                v.Add($"code {code} of {c.Customer} ({conversion}) used {d.UsageCount}× (order {record.Redeemed.GetValueOrDefault(code)}), "
                      + $"yet its cancellation was answered 200 and the points given back"
                      + $"{(c.Raced ? " (the cancellation raced the checkout" + when + ")" : "")}");
            }
            if (record.PosMode && posByConversion[conversion!].Any(t => t.Points > 0))
                v.Add($"code {code} ({conversion}) used {d.UsageCount}×, yet the POS has its points given back " +
                    $"({string.Join(", ", posByConversion[conversion!].Where(t => t.Points > 0).Select(t => t.Reference))})");
        }
        foreach (var c in record.Cancels.Values)
        {
            if (c.AfterRedeem
                && c.Outcome != "used") v.Add(
                $"code {c.Code} of {c.Customer} used at checkout, then cancelling it was answered '{c.Outcome}', not 409 coupon_used");
            if (c.Outcome == "used" && byCode[c.Code].All(d => d.UsageCount == 0)) v.Add(
                $"code {c.Code} of {c.Customer}: cancellation refused as used, Shopify counts no use");
        }
        foreach (var code in record.Redeemed.Keys)
        {
            if (byCode[code].Sum(d => d.UsageCount) < 1) v.Add($"code {code}: a checkout used it, Shopify counts no use");
        }
        verdict.Add("4 used coupons: cancel after use refused, never refunded", used.Count + record.Cancels.Count, v);

        // 5. My Page's balance is the generator's arithmetic (in POS mode, for customers whose conversions could not reach zero).
        v = [];
        var checkedCustomers = 0;
        foreach (var customer in record.Opening.Keys.Order())
        {
            if (record.PosMode && (record.Demand.GetValueOrDefault(customer) > record.Opening[customer]
                || record.StoreSpenders.Contains(customer))) continue;
            checkedCustomers++;
            var expected = record.ExpectedBalance(customer);
            var me = await client.MeAsync(customer, ct);
            if (me is not { } shown) { v.Add($"customer {customer}: My Page did not answer"); continue; }
            if (shown.Balance != expected) v.Add(
                $"customer {customer}: My Page shows {shown.Balance}, the generator's arithmetic gives {expected} ({Arithmetic(record, customer)})");
            if (shown.Pending != record.ExpectedPending(customer)) v.Add(
                $"customer {customer}: My Page shows {shown.Pending} pending, the generator's arithmetic gives {record.ExpectedPending(customer)}");
            if (record.PosMode && shown.Source != "pos") v.Add($"customer {customer}: My Page's balance came from '{shown.Source}', not the POS");
            if (record.PosMode && env.Pos.Balance(customer.ToString()) != expected) v.Add(
                $"customer {customer}: POS balance {env.Pos.Balance(customer.ToString())}, expected {expected}");
        }
        var skipped = record.PosMode
            ? $" ({record.Opening.Count - checkedCustomers} customers whose conversions could reach zero or who spent at the till: invariant 8)"
            : "";
        var rule = record.PendingDays > 0
            ? $"5 My Page balance = opening − conversions + refunds of cancelled coupons; pending = awards − clawbacks (a {record.PendingDays}-day " +
              "pending period)"
            : "5 My Page balance = opening + awards − clawbacks − conversions + refunds of cancelled coupons";
        if (record.Expired) rule = $"5 after the jump past {record.ExpiryMonths} months every point held expired: My Page balance = that " +
            "balance if negative, else 0" + (record.PendingDays > 0 ? ", + the pending points released at the jump; pending = 0" : "");
        verdict.Add(rule + skipped, checkedCustomers, v);

        // 6. The storefront's list (the loyalty.coupons metafield) names exactly the customer's shown codes not cancelled;
        //    past the app's documented bound (Conversion:MetafieldMaxEntries) it names that many of them, unused ones first.
        v = [];
        foreach (var customer in record.Opening.Keys.Order())
        {
            var listed = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            if (env.Shopify.CouponsMetafield(customer) is { } json)
            {
                foreach (var item in JsonDocument.Parse(json).RootElement.EnumerateArray())
                {
                    if (item.TryGetProperty("conversionId", out _)) listed.Add(item.GetProperty("code").GetString()!);
                }
            }
            var mine = record.Codes.Values.Where(s => s.Customer == customer
                && !Cancelled(s.Code)).Select(s => s.Code).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var unused = mine.Where(code => !record.Redeemed.ContainsKey(code)).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var withinBound = mine.Count > Soak.MetafieldMaxEntries
                && listed.IsSubsetOf(mine) && listed.Count == Soak.MetafieldMaxEntries
                && (unused.IsSubsetOf(listed) || listed.IsSubsetOf(unused)); // live coupons are never left out for used ones
            if (!listed.SetEquals(mine) && !withinBound)
                v.Add($"customer {customer}: the storefront lists {listed.Count} coupons, {listed.Except(mine).Count()} not theirs to use " +
                    $"({string.Join(",", listed.Except(mine))}), {mine.Except(listed).Count()} missing ({string.Join(",", mine.Except(listed))})");
        }
        verdict.Add("6 the storefront's coupon list = the codes shown, not cancelled", record.Opening.Count, v);

        // 7. What customers were told is final and consistent: no conversion still "processing", no cancellation unanswered.
        v = [.. client.Anomalies];
        foreach (var (id, customer) in record.Unsettled) v.Add($"conversion {id} of {customer}: still answered 202 after the run settled");
        foreach (var c in record.Cancels.Values.Where(c => c.Outcome is not ("cancelled" or "used")))
            v.Add($"code {c.Code} of {c.Customer}: cancellation answered '{c.Outcome}'");
        verdict.Add("7 every answer final and consistent (replays, polls, cancellations)", record.Answered.Count + record.Cancels.Count, v);

        await CheckPosRefusalsAsync(env, client, record, verdict, ct);

        // 9. Every balance-source switch sent while a conversion was in flight was refused.
        v = record.SwitchAttempts.Where(a => (a.Status, a.Code) != (409, "conversions_in_flight"))
            .Select(a => $"switching the balance source while conversion {a.ConversionKey} was in flight was answered {a.Status} {a.Code}, not 409 " +
                $"conversions_in_flight").ToList();
        if (record.SwitchAttempts.IsEmpty) v.Add(
            "no balance-source switch was attempted while a conversion was held in flight: the invariant checked nothing");
        verdict.Add("9 a balance-source switch is refused while a conversion is in flight", record.SwitchAttempts.Count, v);

        ct.ThrowIfCancellationRequested();
        return verdict;
    }

    public const decimal PointValue = 0.01m;

    private static string Arithmetic(SoakRecord record, long customer)
    {
        var shown = record.Codes.Values.Where(s => s.Customer == customer).ToList();
        var refunded = shown.Where(s => record.Cancels.TryGetValue(s.Code, out var c) && c.Outcome == "cancelled").Sum(s => s.Points);
        var orders = record.Orders.Values.Count(o => o.Customer == customer);
        return $"opening {record.Opening[customer]}, {orders} orders, {shown.Count} codes shown for {shown.Sum(s => s.Points)}, {refunded} given " +
            $"back";
    }
}
