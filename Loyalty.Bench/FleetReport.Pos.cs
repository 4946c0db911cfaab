namespace Loyalty.Bench;

/// <summary>
/// The many-shops scenario in POS mode, judged by the POS simulator's own ledger against the generator's arithmetic: every planned order
/// applied at the POS once, under its award's reference, to its own customer, and every customer's POS balance the sum of their orders'
/// points. Reported beside it: a quiet shop's delivery → POS while the flood runs (from the generator's first sending of the webhook to
/// the POS simulator's record of the addition), against the flood shop's own.
/// </summary>
public sealed partial class FleetReport
{
    private (bool Ok, List<string> Lines) JudgePos()
    {
        var lines = new List<string>();
        var applied = env.Pos.Transactions().Where(t => t.Reference.StartsWith("order:", StringComparison.Ordinal))
            .GroupBy(t => t.Reference).ToDictionary(g => g.Key, g => g.ToList());
        var missing = plan.Where(p => !applied.ContainsKey($"order:{p.Id}")).ToList();
        var wrongCustomer = plan.Count(p => applied.TryGetValue($"order:{p.Id}", out var t)
                                            && t.Any(x => x.CustomerId != p.Customer.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var expected = plan.GroupBy(p => p.Customer).ToDictionary(g => g.Key, g => g.Sum(p => (long)Fleet.Amount(p)));
        var wrongBalances = expected.Where(e => env.Pos.Balance(e.Key.ToString(System.Globalization.CultureInfo.InvariantCulture)) != e.Value)
            .ToList();

        var quiet = new Stats();
        var flood = new Stats();
        foreach (var p in plan.Where(p => !p.Dropped))
        {
            if (!_acked.TryGetValue(p.Id, out var acked) || !applied.TryGetValue($"order:{p.Id}", out var t)) continue;
            (p.Flood ? flood : quiet).Add(Math.Max(0, (t[0].CreatedAt.UtcDateTime - acked).TotalMilliseconds));
        }
        lines.Add($"POS: {applied.Count} order additions applied for {plan.Count} orders; missing {missing.Count}, to the wrong customer " +
                  $"{wrongCustomer}; customers whose POS balance is not the sum of their orders' points: {wrongBalances.Count} of {expected.Count}");
        lines.Add($"quiet shops' delivery → POS during the flood: p50 {quiet.Percentile(50) / 1000:F2} s, p99 {quiet.Percentile(99) / 1000:F2} s, " +
                  $"max {quiet.Max / 1000:F2} s of {quiet.Count} (the flood shop's own: p50 {flood.Percentile(50) / 1000:F2} s, " +
                  $"max {flood.Max / 1000:F2} s); POS requests {env.Pos.Requests}");
        foreach (var p in missing.Take(5)) lines.Add($"VIOLATION order {p.Id} of {p.Shop} never applied at the POS");
        foreach (var (customer, points) in wrongBalances.Take(5))
        {
            var balance = env.Pos.Balance(customer.ToString(System.Globalization.CultureInfo.InvariantCulture));
            lines.Add($"VIOLATION customer {customer}: POS balance {balance}, orders {points}");
        }
        return (missing.Count == 0 && wrongCustomer == 0 && wrongBalances.Count == 0, lines);
    }
}
