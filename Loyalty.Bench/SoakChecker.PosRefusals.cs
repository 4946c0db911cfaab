namespace Loyalty.Bench;

public static partial class SoakChecker
{
    /// <summary>
    /// 8. POS mode: refusals leave exactly the drift the merchant is shown, and block nothing else. Customers the POS did
    /// not know were never shown a code, and once the merchant created them at the POS and retried, the POS holds the
    /// generator's arithmetic to the point. Customers who spent at the till: the POS holds the generator's arithmetic
    /// less what they spent, less the drift the app reports for them (its refused clawbacks); My Page shows the POS.
    /// Nobody else has drift.
    /// </summary>
    private static async Task CheckPosRefusalsAsync(BenchEnvironment env, SoakClient client, SoakRecord record, Verdict verdict, CancellationToken ct)
    {
        var v = new List<string>();
        var drift = record.PosMode
            ? (await client.AdminGetAsync("/api/admin/pos-sync/drift?limit=200", ct)).EnumerateArray()
                .ToDictionary(d => d.GetProperty("customerId").GetInt64(), d => d.GetProperty("drift").GetInt64())
            : [];
        if (drift.Count == 200) v.Add("the drift list came back full (200 customers): customers past it could not be checked");
        // With a pending period no award reaches the POS during the run, so no one spends one at the till (SoakSchedule); nor in a
        // run that ends past expiry, whose deduction the POS would refuse for points spent at the till (a documented limit).
        if (record.PosMode && record.PendingDays == 0 && record.ExpiryMonths == 0
            && !drift.Any(d => record.StoreSpenders.Contains(d.Key) && d.Value < 0))
            v.Add("no clawback was refused after points were spent at the till: the refusal path was never exercised");
        if (record.PosMode && record.PathCount("POS refusal resolved: the customer created at the POS, the change retried") == 0)
            v.Add("no refused change of a customer unknown to the POS was retried and resolved: that path was never exercised");
        foreach (var c in record.UnknownToPos.Order())
        {
            var expected = record.ExpectedBalance(c);
            if (record.Codes.Values.Any(s => s.Customer == c)) v.Add($"customer {c}, unknown to the POS during the run, was shown a code");
            if (env.Pos.Balance(c.ToString()) != expected) v.Add(
                $"customer {c} (created at the POS after the run, refusals retried): POS balance {env.Pos.Balance(c.ToString())}, expected " +
                $"{expected}");
            if (drift.GetValueOrDefault(c) != 0) v.Add($"customer {c}: the app still reports drift {drift[c]} after the retries");
        }
        foreach (var c in record.StoreSpenders.Order())
        {
            var pos = env.Pos.Balance(c.ToString());
            var expected = record.ExpectedBalance(c) - record.SpentInStore.GetValueOrDefault(c) - drift.GetValueOrDefault(c);
            if (pos != expected)
                v.Add($"customer {c}: POS balance {pos}; the generator's arithmetic {record.ExpectedBalance(c)} less " +
                    $"{record.SpentInStore.GetValueOrDefault(c)} spent at the till less the reported drift {drift.GetValueOrDefault(c)} gives " +
                    $"{expected}");
            if (await client.MeAsync(c, ct) is { } me && me.Balance != pos) v.Add($"customer {c}: My Page shows {me.Balance}, the POS holds {pos}");
        }
        foreach (var (c, d) in drift.Where(d => !record.StoreSpenders.Contains(d.Key) && !record.UnknownToPos.Contains(d.Key)))
        {
            v.Add($"customer {c}: the app reports drift {d}, though the POS had no reason to refuse any of their changes");
        }
        record.Count("POS refusal left as drift: customers with a clawback refused after spending at the till",
            drift.Where(d => record.StoreSpenders.Contains(d.Key)).Count(d => d.Value < 0));
        verdict.Add("8 POS refusals: the reported drift explains the POS exactly; unknown customers never shown a code, exact once resolved",
            record.UnknownToPos.Count + record.StoreSpenders.Count, v);
    }
}
