using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// The end of a soak run: the invariants with their counts and violations, the paths the run took (from the
/// generator's view and the simulators' records), and, for the report only, what the app's tables say.
/// </summary>
public static class SoakReport
{
    public static async Task PrintAsync(BenchEnvironment env, SoakRecord record, SoakChecker.Verdict verdict, CancellationToken ct)
    {
        Console.WriteLine($"invariants ({record.Mode} mode):");
        foreach (var (name, n, violations) in verdict.Invariants) Console.WriteLine($"  {name}: {n} checked, {violations.Count} violations");

        Console.WriteLine("paths (the generator's view):");
        foreach (var (path, n) in record.Paths.OrderBy(p => p.Key, StringComparer.Ordinal)) Console.WriteLine($"  {path}: {n}");
        foreach (var g in record.Cancels.Values.GroupBy(c => (Kind: c.Raced ? "racing a checkout" : c.AfterRedeem ? "after a checkout used it"
            : "of an unused coupon", c.Outcome))
                     .OrderBy(g => g.Key.Kind, StringComparer.Ordinal).ThenBy(g => g.Key.Outcome, StringComparer.Ordinal))
        {
            Console.WriteLine($"  cancel {g.Key.Kind} → {g.Key.Outcome}: {g.Count()}");
        }
        var raced = record.Cancels.Values.Where(c => c.Raced).ToList();
        Console.WriteLine($"  races: checkout won {raced.Count(c => record.Redeemed.ContainsKey(c.Code) && c.Outcome != "cancelled")}, " +
                          $"cancellation won {raced.Count(c => !record.Redeemed.ContainsKey(c.Code) && c.Outcome == "cancelled")}, " +
                          $"both went through {raced.Count(c => record.Redeemed.ContainsKey(c.Code) && c.Outcome == "cancelled")}");

        var discounts = env.Shopify.AllDiscounts().Where(d => d.Title.Contains("(conv_", StringComparison.Ordinal)).ToList();
        var pos = env.Pos.Transactions().Where(t => t.Reference.Contains("conv_", StringComparison.Ordinal)).ToList();
        Console.WriteLine("paths (the simulators' records):");
        Console.WriteLine(
            $"  Shopify: {discounts.Count} loyalty discounts created, {discounts.Count(d => !d.Deleted && d.UsageCount == 0)} live unused, " +
                          $"{discounts.Count(d => !d.Deleted && d.UsageCount > 0)} used, {discounts.Count(d => d.Deleted && d.UsageCount == 0)} " +
                              $"deleted unused, " +
                          $"{discounts.Count(d => d.Deleted && d.UsageCount > 0)} deleted after use; " +
                          $"{discounts.GroupBy(d => d.Title).Count(g => g.Count() > 1)} conversions with more than one discount");
        if (record.PosMode)
        {
            Console.WriteLine(
                $"  POS: {pos.Count(t => t.Points < 0)} conversion deductions, {pos.Count(t => t.Points > 0)} conversion points given back, " +
                $"{env.Pos.Requests} calls");
        }

        await using var conn = env.Connection();
        var states = await conn.QueryAsync<(string State, string? Failure, long N)>(
            "SELECT state || '/' || coupon_status, failure_code, count(*) FROM conversions GROUP BY 1, 2 ORDER BY 1, 2");
        var incidents = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM coupon_incidents");
        var retried = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM conversions WHERE attempts > 1");
        Console.WriteLine(
            $"the app's tables (report only): conversions " +
            $"{string.Join(", ", states.Select(s => $"{s.State}{(s.Failure is null ? "" : $" ({s.Failure})")} ×{s.N}"))}; " +
                          $"{retried} driven more than once; {incidents} coupon incidents; " +
                          $"{await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM webhook_deliveries")} webhook deliveries; " +
                          $"app starts {string.Join("/", env.Apps.Select(a => a.Starts))}, peak RSS " +
                              $"{string.Join("/", env.Apps.Select(a => a.PeakRssKb / 1024))} MiB");

        foreach (var (name, _, violations) in verdict.Invariants)
        {
            foreach (var v in violations.Take(15)) Console.WriteLine($"VIOLATION [{name.Split(' ')[0]}] {v}");
            if (violations.Count > 15) Console.WriteLine($"  … and {violations.Count - 15} more of invariant {name.Split(' ')[0]}");
        }
        ct.ThrowIfCancellationRequested();
    }
}
